"""Hypothesis properties of dedupe and windowing, checked against the record-at-a-time oracle."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.events.schema import event_type
from pipeline.core.shard import ShardCore
from pipeline.core.windows.spec import compile_jobs
from pipeline.testing import iot_event, records
from tests.oracle import oracle

T0 = 1_767_225_600_000
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


JOBS = compile_jobs([Job()])

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
    core = ShardCore(event_type("iot"), JOBS, "shard")
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


@settings(max_examples=150, deadline=None)
@given(event_lists, st.lists(st.integers(0, 200), max_size=6))
def test_results_and_late_events_equal_the_oracle_for_any_batch_split(events, splits):
    results, late, _ = run(events, splits)
    expected, expected_late = oracle(events, SIZE, LATENESS, ("device_id",))
    assert results == expected
    assert late == expected_late


@settings(max_examples=100, deadline=None)
@given(event_lists)
def test_every_valid_event_lands_in_exactly_one_window_or_is_late(events):
    results, late, _ = run(events, [])
    assert sum(m["events"] for m in results.values()) + len(late) == len(
        {e["event_id"] for e in events}
    )


@settings(max_examples=100, deadline=None)
@given(event_lists, st.randoms(use_true_random=False), st.lists(st.integers(0, 300), max_size=5))
def test_redelivering_any_subset_in_any_split_changes_nothing(events, rng, splits):
    replayed = list(events)
    horizon = ShardCore(event_type("iot"), JOBS, "s").deduper.horizon_ms
    for event in rng.sample(events, k=len(events) // 2):  # at-least-once: again, somewhere later
        position = replayed.index(event) + 1
        # ...within the dedupe horizon: later than that, a copy is late (see the next test)
        newest, limit = max(e["ts"] for e in replayed[:position]), position
        while limit < len(replayed) and max(newest, replayed[limit]["ts"]) <= event["ts"] + horizon:
            newest = max(newest, replayed[limit]["ts"])
            limit += 1
        replayed.insert(rng.randint(position, limit), dict(event))
    results, late, _ = run(replayed, splits)
    expected_results, expected_late, _ = run(events, [])
    assert results == expected_results
    # a late event's copy is late again: the late output's ids (as the lake counts them) are equal
    assert set(late) == set(expected_late)


def test_a_copy_beyond_the_dedupe_horizon_is_late_never_counted():
    first, newer = iot_event(1, T0), iot_event(2, T0 + 10 * 60_000)
    results, late, _ = run([first, newer, dict(first)], [])
    assert late == ["e-1"]
    assert sum(m["events"] for m in results.values()) == 2


@settings(max_examples=100, deadline=None)
@given(event_lists, st.integers(0, 2**32))
def test_any_arrival_order_within_the_lateness_gives_the_same_results(events, seed):
    rng = random.Random(seed)
    in_order = sorted(events, key=lambda e: e["ts"])
    # arrival key = event time + a delay below the lateness: no event can arrive late
    disordered = sorted(events, key=lambda e: e["ts"] + rng.randrange(LATENESS))
    ordered_results, ordered_late, _ = run(in_order, [])
    results, late, _ = run(disordered, [])
    assert ordered_late == late == []
    assert results == ordered_results


@settings(max_examples=60, deadline=None)
@given(event_lists, st.integers(0, 120))
def test_state_is_bounded_by_the_dedupe_horizon(events, _):
    _, _, core = run(sorted(events, key=lambda e: e["ts"]), [])
    if events:
        newest = max(e["ts"] for e in events)
        horizon = core.deduper.horizon_ms + core.deduper.bucket_ms
        remembered = sum(1 for e in events if e["ts"] >= newest - horizon)
        assert len(core.deduper) <= len({e["event_id"] for e in events})
        assert len(core.deduper) <= remembered
