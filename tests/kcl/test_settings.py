"""The daemon's properties and the children's configuration file, from the configuration."""

from __future__ import annotations

import dataclasses

import pytest

from consumers.kcl.properties import (
    child_command,
    config_toml,
    daemon_properties,
    render_properties,
)
from pipeline.config import load_config
from pipeline.core.errors import ConfigError


def config(**kcl):
    base = load_config(env={"PIPELINE_CONSUMER_APPLICATION": "app-1"})
    return dataclasses.replace(base, kcl=dataclasses.replace(base.kcl, **kcl))


def test_properties_come_from_the_configuration_with_polling_by_default():
    cfg = config(failover_ms=2_000).with_endpoint("http://127.0.0.1:4566")
    assert daemon_properties(cfg, "/venv/bin/python -m consumers.kcl.child", "worker-a") == {
        "executableName": "/venv/bin/python -m consumers.kcl.child",
        "processingLanguage": "python/3.11",
        "streamName": "kpipe-events",
        "applicationName": "app-1",
        "regionName": "us-east-1",
        "AWSCredentialsProvider": "DefaultCredentialsProvider",
        "initialPositionInStream": "TRIM_HORIZON",
        "retrievalMode": "POLLING",
        "metricsLevel": "NONE",
        "maxRecords": "10000",
        "idleTimeBetweenReadsInMillis": "200",
        "callProcessRecordsEvenForEmptyRecordList": "true",
        "failoverTimeMillis": "2000",
        "shardSyncIntervalMillis": "60000",
        "parentShardPollIntervalMillis": "10000",
        "shutdownGraceMillis": "15000",
        "maxLeasesToStealAtOneTime": "1",
        "reBalanceThresholdPercentage": "10",
        "kinesisEndpoint": "http://127.0.0.1:4566",
        "dynamoDBEndpoint": "http://127.0.0.1:4566",
        "workerId": "worker-a",
    }


def test_enhanced_fan_out_is_an_explicit_choice_and_bad_values_name_their_key():
    assert daemon_properties(config(retrieval_mode="fanout"), "py")["retrievalMode"] == "FANOUT"
    with pytest.raises(ConfigError, match=r"kcl.retrieval_mode: expected one of POLLING, FANOUT"):
        daemon_properties(config(retrieval_mode="EFO"), "py")
    with pytest.raises(ConfigError, match=r"kcl.metrics_level"):
        daemon_properties(config(metrics_level="ALL"), "py")
    with pytest.raises(ConfigError, match=r"kcl.shutdown_grace_ms"):
        daemon_properties(config(shutdown_grace_ms=0), "py")
    balancing = config(rebalance_threshold_percent=90)
    assert daemon_properties(balancing, "py")["reBalanceThresholdPercentage"] == "90"


def test_rendered_properties_escape_backslashes_and_refuse_multiline_values():
    assert render_properties({"a": "x\\y", "b": "1"}).splitlines()[1:] == [
        "a = x\\\\y",
        "b = 1",
    ]
    with pytest.raises(ConfigError, match="cannot span lines"):
        render_properties({"a": "x\ny"})


def test_the_daemon_splits_its_command_on_spaces_so_paths_with_spaces_are_refused():
    assert child_command("/venv/bin/python") == "/venv/bin/python -m consumers.kcl.child"
    with pytest.raises(ConfigError, match="contains a space"):
        child_command("/my venv/bin/python")


@pytest.mark.parametrize("variant", ["default", "no jobs", "quotes and unicode"])
def test_the_children_read_back_exactly_the_launchers_configuration(tmp_path, variant):
    cfg = config(java_options=("-Xmx512m",), jar_manifest="").with_endpoint("http://h:1")
    if variant == "no jobs":  # an empty list, not "no key": that would bring the defaults back
        cfg = dataclasses.replace(cfg, jobs=(), alerts=())  # alerts need their jobs
    if variant == "quotes and unicode":
        names = dataclasses.replace(cfg.names, firehose_role_arn='arn:\u00e9 "q" \\ \t')
        cfg = dataclasses.replace(cfg, names=names)
    path = tmp_path / "pipeline.toml"
    path.write_text(config_toml(cfg), encoding="utf-8")
    assert load_config(path, env={}) == cfg
