"""The window semantics' oracle for tests that hold one shard's events as dicts.

The authority is :class:`pipeline.harness.oracle.Oracle` (record at a time, plain dicts and loops);
this runs it on one shard and one job of the reference metrics (count, avg/min/max temperature,
min battery) with the core's default dedupe horizon, and gives its answer in the tests' shape.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pipeline.config import shipped_types
from pipeline.core.windows.spec import compile_jobs
from pipeline.harness.oracle import Oracle
from pipeline.testing import records

METRICS = {
    "events": "count()",
    "temperature_avg": "avg(temperature)",
    "temperature_min": "min(temperature)",
    "temperature_max": "max(temperature)",
    "battery_min": "min(battery)",
}


def oracle(events: list[dict[str, Any]], size_ms: int, lateness_ms: int, group_by: tuple[str, ...]):
    """(results, late ids in arrival order); results map (window start, group) -> metrics."""
    declared = SimpleNamespace(
        name="oracle",
        source="iot",
        window=f"{size_ms}ms",
        lateness=f"{lateness_ms}ms",
        group_by=group_by,
        metrics=METRICS,
    )
    (job,) = compile_jobs([declared], shipped_types())
    expected = Oracle([job], dedupe_horizon_ms=0).run({"shard": records(events)}, {})
    results = {(start, group): metrics for (_, start, group), metrics in expected.windows.items()}
    late = [e["event_id"] for e in events if (job.name, e["event_id"]) in expected.late]
    return results, list(dict.fromkeys(late))
