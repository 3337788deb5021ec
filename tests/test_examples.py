"""The example configurations load and compile (they are documentation that must not rot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("name", ["site-hourly.toml", "aws.toml"])
def test_example_configuration_loads(name):
    config = load_config(EXAMPLES / name, env={})
    assert config.window_jobs


def test_the_site_hourly_example_adds_a_job_by_configuration_only():
    config = load_config(EXAMPLES / "site-hourly.toml", env={})
    jobs = {job.name: job for job in config.window_jobs}
    assert set(jobs) == {"device_minute", "site_hourly"}
    assert [m.function.name for m in jobs["site_hourly"].metrics][:3] == [
        "count",
        "approx_count_distinct",
        "p50",
    ]
    assert [a.name for a in config.alerts] == ["site_running_hot"]
