"""Metric conditions (``count() if temperature >= 25``): bad ones are rejected at start-up."""

import pytest

from pipeline.config import shipped_types
from pipeline.core.errors import ConfigError
from pipeline.core.windows.spec import compile_jobs
from tests.core import shards


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("count() if colour = 'red'", "unknown field 'colour' in condition"),
        ("count() if site = 3", "'site' is compared with a non-string"),
        ("count() if temperature ~ 3", "cannot read condition"),
    ],
)
def test_bad_conditions_are_config_errors(metric, message):
    class Job(shards.Job):
        metrics = {"m": metric}

    with pytest.raises(ConfigError, match=message):
        compile_jobs([Job()], shipped_types())
