"""Bounds, sources and environment variables of the configuration; ``pipeline config show``."""

from __future__ import annotations

import dataclasses
import tomllib
import typing

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.cli_support import option_variables
from pipeline.config import (
    CONFIG_VARIABLE,
    Config,
    effective_config,
    load_config,
    setting_keys,
    variable,
)
from pipeline.config_view import MASK, masked
from pipeline.core.errors import ConfigError

#: Every command option's variable -> the option, as click names them
OPTIONS = option_variables(main)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PIPELINE_STREAM_SHARDS": "0"}, "stream.shards: must be at least 1, got 0"),
        (
            {"PIPELINE_FIREHOSE_BUFFER_MIB": "129"},
            "firehose.buffer_mib: must be between 1 and 128 MiB, got 129",
        ),
        (
            {"PIPELINE_FIREHOSE_BUFFER_SECONDS": "901"},
            "firehose.buffer_seconds: must be between 0 and 900 s, got 901",
        ),
        (
            {"PIPELINE_FIREHOSE_RECORD_KIB": "1001"},
            "firehose.record_kib: must be between 1 and 1000 KiB, got 1001",
        ),
        ({"PIPELINE_RESULTS_RETENTION": "0s"}, "results.retention: must be at least 1s, got '0s'"),
        (
            {"PIPELINE_STREAM_RETENTION_HOURS": "12"},
            "stream.retention_hours: must be between 24 and 8760 hours, got 12",
        ),
        (
            {"PIPELINE_CONSUMER_MAX_RECORDS": "10001"},
            "consumer.max_records: must be between 1 and 10000, got 10001",
        ),
        (
            {"PIPELINE_KCL_REBALANCE_THRESHOLD_PERCENT": "0"},
            "kcl.rebalance_threshold_percent: must be between 1 and 10000 %, got 0",
        ),
        (
            {"PIPELINE_CONSUMER_INITIAL_POSITION": "EARLIEST"},
            "consumer.initial_position: must be one of TRIM_HORIZON, LATEST, got 'EARLIEST'",
        ),
        (
            {"PIPELINE_CONSUMER_DEDUPE_HORIZON": "ten minutes"},
            "consumer.dedupe_horizon: 'ten minutes' is not a duration such as 500ms, 30s",
        ),
        (
            {"PIPELINE_CONSUMER_CHECKPOINT_INTERVAL_S": "nan"},
            "consumer.checkpoint_interval_s: must be a finite number, got 'nan'",
        ),
        (
            {"PIPELINE_METRICS_EMF_INTERVAL_S": "0.5"},
            "metrics.emf_interval_s: must be between 1 and 3600 s, got 0.5",
        ),
    ],
)
def test_out_of_range_settings_stop_the_load_with_one_line_naming_the_key(env, message):
    with pytest.raises(ConfigError) as error:
        load_config(env=env)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_an_out_of_range_setting_stops_a_command_with_one_line():
    result = CliRunner().invoke(main, ["provision"], env={"PIPELINE_STREAM_SHARDS": "0"})
    assert result.exit_code == 1
    assert result.output == "Error: stream.shards: must be at least 1, got 0\n"


def test_every_default_is_within_its_declared_bounds():
    hints = typing.get_type_hints(Config)
    checked = 0
    for section, key in setting_keys():
        field = {f.name: f for f in dataclasses.fields(hints[section])}[key]
        bounds = field.metadata.get("bounds")
        if bounds is not None:
            bounds.check(field.default, f"{section}.{key}")
            checked += 1
    assert checked >= 10


def test_each_value_says_where_it_came_from(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text(
        "[stream]\nshards = 4\n[firehose]\nbuffer_mib = 8\n"
        '[[jobs]]\nname = "mine"\nsource = "iot"\nwindow = "5m"\nmetrics = { n = "count()" }\n'
    )
    config, sources = effective_config(path, env={"PIPELINE_STREAM_SHARDS": "6"})
    assert (config.stream.shards, config.firehose.buffer_mib) == (6, 8)
    assert sources["stream.shards"] == "env PIPELINE_STREAM_SHARDS"
    assert sources["firehose.buffer_mib"] == f"file {path}"
    assert sources["firehose.buffer_seconds"] == "default"
    assert sources["jobs.mine"] == f"file {path}"
    assert sources["event_types.iot"] == "default"
    assert "jobs.device_minute" not in sources  # the file's jobs replace the default ones


def test_an_unknown_variable_under_a_section_names_both_readings_not_its_value():
    with pytest.raises(ConfigError) as error:
        load_config(env={"PIPELINE_STREAM_SHRADS": "s3cr3t"}, option_variables=OPTIONS)
    message = str(error.value)
    assert message.startswith(
        "PIPELINE_STREAM_SHRADS: neither a setting ([stream] has no key 'shrads'; its keys: "
        "shards, event_type, retention_hours) nor a command option's variable"
    )
    assert "s3cr3t" not in message


def _context(path: tuple[str, ...]) -> tuple[click.Context, click.Command]:
    """The click contexts of ``pipeline PATH...``, as a command line would create them."""
    command: click.Command = main
    ctx = click.Context(main, info_name="pipeline", auto_envvar_prefix="PIPELINE")
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
        ctx = click.Context(command, parent=ctx, info_name=name)
    return ctx, command


@pytest.mark.parametrize(("name", "option"), sorted(OPTIONS.items()))
def test_every_option_variable_reaches_its_option_and_not_the_configuration(
    name, option, monkeypatch
):
    *path, flag = option.split(" ")
    ctx, command = _context(tuple(path))
    (param,) = [p for p in command.params if isinstance(p, click.Option) and flag in p.opts]
    monkeypatch.setenv(name, "1")
    assert param.resolve_envvar_value(ctx) == "1", f"click does not read {name} for {option}"
    if name not in (CONFIG_VARIABLE, variable("aws", "endpoint_url")):
        assert load_config(env={name: "1"}, option_variables=OPTIONS) == load_config(env={})


def test_the_documented_worker_id_variable_of_kcl_properties(monkeypatch):
    """The issue's case: PIPELINE_KCL_PROPERTIES_WORKER_ID was read as kcl.properties_worker_id."""
    result = CliRunner().invoke(
        main, ["kcl", "properties"], env={"PIPELINE_KCL_PROPERTIES_WORKER_ID": "worker-7"}
    )
    assert result.exit_code == 0, result.output
    assert "workerId = worker-7" in result.output.splitlines()


def _env_form(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value) or "x"
    return str(value) or "x"


def test_config_show_names_the_source_of_every_setting_set_in_the_environment():
    config = load_config(env={})
    env = {
        variable(section, key): _env_form(getattr(getattr(config, section), key))
        for section, key in setting_keys()
    }
    env["PIPELINE_AWS_ENDPOINT_URL"] = "http://user:hunter2@127.0.0.1:4566"
    env["PIPELINE_KCL_JAR_MANIFEST"] = ""  # no verification: a valid value
    env["PIPELINE_CONSUMER_MAX_EVENT_AGE"] = "0"  # off: a valid value
    result = CliRunner().invoke(main, ["config", "show"], env=env)
    assert result.exit_code == 0, result.output
    assert _sources(result.output) == {
        (section, key): f"env {variable(section, key)}" for section, key in setting_keys()
    }
    assert "hunter2" not in result.output
    assert f'endpoint_url = "http://user:{MASK}@127.0.0.1:4566"' in result.output


def _sources(output: str) -> dict[tuple[str, str], str]:
    """``(section, key) -> source`` of the settings' lines of ``config show``."""
    found = {}
    section = ""
    for line in output.splitlines():
        if line.startswith("[") and not line.startswith("[["):
            section = line.strip("[]")
        elif " = " in line and "  # " in line and section:
            found[(section, line.split(" = ")[0])] = line.rsplit("  # ", 1)[1]
        elif line.startswith("[["):
            section = ""
    return found


def test_config_show_is_toml_with_the_effective_values(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text('[stream]\nshards = 3\nevent_type = "web"\n')
    result = CliRunner().invoke(
        main,
        ["--config", str(path), "--endpoint-url", "http://127.0.0.1:1", "config", "show"],
    )
    assert result.exit_code == 0, result.output
    shown = tomllib.loads(result.output)
    assert shown["stream"] == {"shards": 3, "event_type": "web", "retention_hours": 24}
    assert shown["aws"]["endpoint_url"] == "http://127.0.0.1:1"
    assert [job["name"] for job in shown["jobs"]] == ["device_minute", "web_second"]
    assert {t["name"] for t in shown["event_types"]} == {"iot", "web"}
    lines = result.output.splitlines()
    assert f"shards = 3  # file {path}" in lines
    assert 'endpoint_url = "http://127.0.0.1:1"  # option --endpoint-url' in lines
    assert "retention_hours = 24  # default" in lines


def test_secret_looking_keys_are_masked():
    assert masked("api_token", "abc") == MASK
    assert masked("db_password", "abc") == MASK
    assert masked("secret_access_key", "abc") == MASK
    assert masked("credentials_provider", "DefaultAWSCredentialsProviderChain") == (
        "DefaultAWSCredentialsProviderChain"
    )
    assert masked("url", "https://a:b@host/x") == f"https://a:{MASK}@host/x"
    assert masked("url", "https://host/x") == "https://host/x"


@pytest.mark.parametrize(
    "args",
    [["consume", "--metrics-port", "70000"], ["produce", "iot", "--metrics-port", "-1"]],
)
def test_a_port_out_of_range_is_refused_before_anything_runs(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Invalid value for '--metrics-port'" in result.output
    assert "is not in the range 0<=x<=65535" in result.output
