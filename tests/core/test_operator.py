"""Window semantics: half-open windows that close when the watermark reaches their end, lateness
decided per record; on hand-computed inputs and as Hypothesis properties."""

from __future__ import annotations

import gc
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.testing import iot_event, records
from tests.core.shards import LATENESS, T0, core, event_lists, metrics, run


def test_half_open_windows_and_exact_aggregates():
    c = core()
    out = c.process(
        records(
            [
                iot_event(1, T0, temperature=20.0, battery=90.0),
                iot_event(2, T0 + 59_999, temperature=22.0, battery=80.0),
                iot_event(
                    3, T0 + 60_000, temperature=30.0, battery=70.0
                ),  # next window: [T0+60s, ...)
                iot_event(4, T0 + 95_000),  # watermark T0+65s: closes [T0, T0+60s)
            ]
        )
    )
    (first,) = out.results
    assert (first.window_start_ms, first.window_end_ms) == (T0, T0 + 60_000)
    assert dict(first.group) == {
        "device_id": "dev-1",
        "device_type": "thermostat",
        "site": "site-1",
    }
    assert metrics(first) == {
        "events": 2,
        "temperature_avg": 21.0,
        "temperature_min": 20.0,
        "temperature_max": 22.0,
        "humidity_avg": None,
        "battery_min": 80.0,
    }
    assert (
        first.result_id == f"device_minute|{T0}|device_id=dev-1,device_type=thermostat,site=site-1"
    )


def test_closed_windows_leave_the_cyclic_collector_nothing_per_window():
    """Windows close by the hundred thousand and a consumer holds the results a while: they are
    columns, not objects per window the collector would rescan (that cost a tenth of a run)."""
    c = core()
    c.process(records([iot_event(i, T0 + i, device=f"dev-{i}") for i in range(1, 2_001)]))
    gc.collect()
    before = len(gc.get_objects())
    out = c.process(records([iot_event(9_999, T0 + 95_000)], first_sequence=2_001))
    assert len(out.results) == 2_000 and len(gc.get_objects()) - before < 100
    assert {dict(r.group)["device_id"]: metrics(r)["events"] for r in out.results} == {
        f"dev-{i}": 1 for i in range(1, 2_001)
    }


def test_window_closes_exactly_when_the_watermark_reaches_its_end():
    c = core()
    assert c.process(records([iot_event(1, T0), iot_event(2, T0 + 89_999)])).results == []
    assert len(c.process(records([iot_event(3, T0 + 90_000)], first_sequence=3)).results) == 1


@settings(max_examples=100, deadline=None)
@given(event_lists)
def test_every_valid_event_lands_in_exactly_one_window_or_is_late(events):
    results, late, _ = run(events, [])
    assert sum(m["events"] for m in results.values()) + len(late) == len(
        {e["event_id"] for e in events}
    )


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
