from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


def test_defaults_declare_the_device_minute_job():
    config = load_config(env={})
    (job,) = config.jobs_for("iot")
    assert (job.name, job.size_ms, job.lateness_ms) == ("device_minute", 60_000, 30_000)
    assert job.group_by == ("device_id", "device_type", "site")
    assert [m.name for m in job.metrics][:2] == ["events", "temperature_avg"]


def test_file_then_environment_override(tmp_path):
    path = write(tmp_path, '[stream]\nshards = 4\n[aws]\nregion = "eu-west-1"\n')
    config = load_config(path, env={"PIPELINE_STREAM_SHARDS": "8"})
    assert config.stream.shards == 8
    assert config.aws.region == "eu-west-1"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[stream]\nshards = -1\n", {}, "stream.shards: must not be negative"),
        ("[stream]\nshardz = 1\n", {}, "stream: unknown key(s) shardz"),
        ("", {"PIPELINE_STREAM_SHARDS": "two"}, "stream.shards: expected int, got 'two'"),
        ("[stream\n", {}, "invalid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(write(tmp_path, text), env=env)


JOB = """
[[jobs]]
name = "j"
source = "iot"
window = "{window}"
lateness = "{lateness}"
group_by = ["{group}"]
metrics = {{ m = "{metric}" }}
"""


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metric": "median(temperature)"}, "jobs.j.metrics.m: unknown function 'median'"),
        ({"metric": "avg(temp)"}, "jobs.j.metrics.m: unknown field 'temp'"),
        ({"metric": "avg(site)"}, "jobs.j.metrics.m: avg() needs a numeric field"),
        ({"group": "colour"}, "jobs.j.group_by: unknown field 'colour'"),
        ({"window": "0s"}, "jobs.j.window: must be a positive duration"),
        ({"window": "1 minute"}, "jobs.j.window: '1 minute' is not a duration"),
        ({"lateness": "2d"}, "jobs.j.lateness: 2d plus the window exceeds the stream's retention"),
    ],
)
def test_bad_jobs_are_rejected_at_start_up_naming_job_and_field(tmp_path, fields, message):
    values = {"window": "1m", "lateness": "10s", "group": "device_id", "metric": "count()"} | fields
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(write(tmp_path, JOB.format(**values)), env={})


def test_a_job_added_by_config_only(tmp_path):
    text = JOB.format(window="5m", lateness="1m", group="site", metric="max(battery)")
    (job,) = load_config(write(tmp_path, text), env={}).window_jobs
    assert (job.name, job.size_ms, job.group_by, job.metrics[0].field) == (
        "j",
        300_000,
        ("site",),
        "battery",
    )
