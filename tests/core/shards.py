"""Cores and inputs shared by the core's tests: a core running the default device_minute job for
hand-computed inputs, and a 10-second job with Hypothesis event lists for the properties."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from pipeline.config import load_config, shipped_types
from pipeline.config import shipped_event_type as event_type
from pipeline.core.shard import ShardCore
from pipeline.core.windows.spec import compile_jobs
from pipeline.testing import BOUNDED, iot_event, records

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a window boundary
DEVICE_MINUTE = load_config(env={}).jobs_for("iot")  # device_minute: 1 m windows, 30 s lateness


def core() -> ShardCore:
    return ShardCore(event_type("iot"), DEVICE_MINUTE, "shardId-000000000000", BOUNDED)


def metrics(result):
    return dict(result.metrics)


# -- the properties' job and inputs -------------------------------------------------------------

SIZE, LATENESS = 10_000, 3_000


class Job:
    name = "w"
    source = "iot"
    window = "10s"
    lateness = "3s"
    group_by = ("device_id",)
    metrics = {
        "events": "count()",
        "temperature_avg": "avg(temperature)",
        "temperature_min": "min(temperature)",
        "temperature_max": "max(temperature)",
        "battery_min": "min(battery)",
    }


JOBS = compile_jobs([Job()], shipped_types())

# half-degree temperatures: sums of a few of them are exact in binary floating point
event_lists = st.lists(
    st.tuples(
        st.integers(0, 120_000),  # event time offset
        st.sampled_from(["a", "b", "c"]),
        st.one_of(st.none(), st.integers(-40, 80).map(lambda t: t / 2)),
        st.integers(0, 10**6),
    ),
    max_size=120,
).map(
    lambda rows: [
        iot_event(i, T0 + offset, device=device, temperature=temp, battery=float(b % 100))
        for i, (offset, device, temp, b) in enumerate(rows)
    ]
)


def run(events: list[dict], splits: list[int]) -> tuple[dict, list[str], ShardCore]:
    core = ShardCore(event_type("iot"), JOBS, "shard", BOUNDED)
    batch = records(events)
    results, late = {}, []
    bounds = sorted({0, len(batch), *[s % (len(batch) + 1) for s in splits]})
    for start, stop in itertools.pairwise(bounds):
        out = core.process(batch[start:stop])
        late += [e.event_id for e in out.late]
        for r in out.results:
            assert (r.window_start_ms, r.group) not in results, "a window was emitted twice"
            results[(r.window_start_ms, tuple(v for _, v in r.group))] = dict(r.metrics)
    for r in core.close_windows(end_of_stream=True).results:
        results[(r.window_start_ms, tuple(v for _, v in r.group))] = dict(r.metrics)
    return results, late, core
