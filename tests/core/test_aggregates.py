"""Every aggregate function, in any batch split and any split into shard parts, against a
plain-Python oracle; and the seed's per-second web rollup as a declared job."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import load_config, shipped_types
from pipeline.config import shipped_event_type as event_type
from pipeline.core.shard import ShardCore
from pipeline.core.windows.aggregates import HLL_REGISTERS, hll_estimate, hll_registers
from pipeline.core.windows.operator import finish, merge_states
from pipeline.core.windows.spec import compile_jobs
from pipeline.testing import BOUNDED, iot_event, records

T0 = 1_767_225_600_000


class AllFunctions:
    name = "all"
    source = "iot"
    window = "10s"
    lateness = "1h"  # nothing is late: this test is about the functions
    group_by = ("site",)
    metrics = {
        "n": "count()",
        "n_temperature": "count(temperature)",
        "total": "sum(temperature)",
        "low": "min(temperature)",
        "high": "max(temperature)",
        "mean": "avg(temperature)",
        "devices": "count_distinct(device_id)",
        "devices_approx": "approx_count_distinct(device_id)",
        "first_temperature": "first(temperature)",
        "last_temperature": "last(temperature)",
        "median": "p50(temperature)",
        "p95": "p95(temperature)",
        "p99": "p99(temperature)",
        "hot": "count() if temperature >= 25",
        "hot_devices": "count_distinct(device_id) if temperature > 25 and device_id != 'd0'",
        "named": "count() if device_id in ('d1', 'd2')",
    }


(JOB,) = compile_jobs([AllFunctions()], shipped_types())

events_strategy = st.lists(
    st.tuples(
        st.integers(0, 29_999),
        st.sampled_from(["d0", "d1", "d2", "d3", "d4"]),
        st.one_of(st.none(), st.integers(-80, 120).map(lambda t: t / 4)),
        st.sampled_from(["s1", "s2"]),
    ),
    min_size=1,
    max_size=150,
)


def oracle(events):
    windows = defaultdict(list)
    for e in events:
        windows[(e["ts"] - e["ts"] % 10_000, e["site"])].append(e)
    out = {}
    for key, members in windows.items():
        temps = [e["temperature"] for e in members if e["temperature"] is not None]
        timed = [(e["ts"], e["temperature"]) for e in members if e["temperature"] is not None]
        out[key] = {
            "n": len(members),
            "n_temperature": len(temps),
            "total": sum(temps) if temps else None,
            "low": min(temps, default=None),
            "high": max(temps, default=None),
            "mean": sum(temps) / len(temps) if temps else None,
            "devices": len({e["device_id"] for e in members}),
            "first_temperature": min(timed)[1] if timed else None,
            "last_temperature": max(timed, key=lambda p: (p[0], -p[1]))[1] if timed else None,
            "hot": sum(1 for t in temps if t >= 25),
            "hot_devices": len(
                {
                    e["device_id"]
                    for e in members
                    if e["temperature"] is not None
                    and e["temperature"] > 25
                    and e["device_id"] != "d0"
                }
            ),
            "named": sum(1 for e in members if e["device_id"] in ("d1", "d2")),
            "_temps": sorted(temps),
        }
    return out


def nearest_rank(sorted_values, q):
    return sorted_values[max(1, math.ceil(q * len(sorted_values))) - 1]


@settings(max_examples=120, deadline=None)
@given(
    events_strategy,
    st.lists(st.integers(0, 3), min_size=150, max_size=150),
    st.lists(st.integers(1, 40), max_size=5),
)
def test_every_function_equals_the_oracle_in_any_split_into_shards_and_batches(
    rows, shard_of, splits
):
    events = [
        {**iot_event(i, T0 + t, device=d, temperature=temp), "site": site}
        for i, (t, d, temp, site) in enumerate(rows)
    ]
    parts: dict[str, dict] = defaultdict(dict)
    for shard in range(4):
        mine = [e for i, e in enumerate(events) if shard_of[i] == shard]
        core = ShardCore(event_type("iot"), [JOB], f"s{shard}", BOUNDED)
        batch = records(mine)
        start = 0
        for size in [*splits, len(batch)]:
            core.process(batch[start : start + size])
            start += size
        for r in core.close_windows(end_of_stream=True).results:
            parts[(r.window_start_ms, r.group[0][1])][shard] = r.states
    got = {}
    for key, by_shard in parts.items():
        states = None
        for shard in sorted(by_shard, reverse=True):  # merge order must not matter
            states = (
                list(by_shard[shard])
                if states is None
                else merge_states(JOB, states, by_shard[shard])
            )
        got[key] = dict(finish(JOB, states))
    expected = oracle(events)
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        have = got[key]
        temps = want.pop("_temps")
        for name, value in want.items():
            if name == "mean" and value is not None:
                assert have[name] == pytest.approx(value, rel=1e-12)
            else:
                assert have[name] == value, name
        assert abs(have["devices_approx"] - want["devices"]) <= max(1, 0.05 * want["devices"])
        for name, q in (("median", 0.5), ("p95", 0.95), ("p99", 0.99)):
            if not temps:
                assert have[name] is None
            else:
                exact = nearest_rank(temps, q)
                assert abs(have[name] - exact) <= 0.01 * abs(exact) + 1e-12, (
                    name,
                    exact,
                    have[name],
                )


def test_hyperloglog_error_stays_within_its_bound_at_scale():
    values = [f"user-{i}" for i in range(200_000)]
    halves = hll_registers(values[:120_000]), hll_registers(values[80_000:])
    merged = [max(a, b) for a, b in zip(*halves, strict=True)]
    error = abs(hll_estimate(merged) - 200_000) / 200_000
    assert len(merged) == HLL_REGISTERS
    assert error < 3 * 1.04 / math.sqrt(HLL_REGISTERS)  # three standard errors


def test_the_seeds_per_second_web_rollup_as_a_declared_job():
    jobs = [j for j in load_config(env={}).window_jobs if j.name == "web_second"]
    core = ShardCore(event_type("web"), jobs, "s", BOUNDED)
    second = 1_486_505_943
    clicks = [  # (user, os, quadrant): a user clicking twice in a second counts once
        ("u1", "Android", "A"),
        ("u1", "Android", "A"),
        ("u2", "iOS", "A"),
        ("u3", "Android", "B"),
        ("u4", "Windows Phone", "C"),
        ("u5", "other", "D"),
        ("u2", "iOS", "B"),
    ]
    payloads = [
        {
            "event_id": f"c{i}",
            "recordTime": second + i / 10,
            "cognitoId": f"us-east-1:{u}",
            "os": os_,
            "quadrant": q,
        }
        for i, (u, os_, q) in enumerate(clicks)
    ]
    (result,) = (
        core.process(records(payloads)).results + core.close_windows(end_of_stream=True).results
    )
    assert result.window_start_ms == second * 1000
    assert dict(result.metrics) == {
        "events": 7,
        "unique_users": 5,
        "android_users": 2,
        "ios_users": 1,
        "windows_phone_users": 1,
        "other_os_users": 1,
        "quadrant_a_users": 2,
        "quadrant_b_users": 2,
        "quadrant_c_users": 1,
        "quadrant_d_users": 1,
    }
