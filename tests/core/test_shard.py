"""The shard core: control records, snapshots and resharding; and its outputs against the
record-at-a-time oracle for any batch split."""

from __future__ import annotations

import zlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.errors import StateError
from pipeline.core.records import RawRecord
from pipeline.core.shard import END_OF_STREAM
from pipeline.testing import iot_event, records
from tests.core.shards import LATENESS, SIZE, T0, core, event_lists, run
from tests.oracle import oracle


def test_end_of_stream_marker_closes_every_window_and_later_events_are_late():
    c = core()
    batch = [
        *records([iot_event(1, T0), iot_event(2, T0 + 60000)]),
        RawRecord(END_OF_STREAM, "x", "3"),
    ]
    batch += records([iot_event(4, T0 + 120_000)], first_sequence=4)
    out = c.process(batch)
    assert [r.window_start_ms for r in out.results] == [T0, T0 + 60_000]
    assert [late.event_id for late in out.late] == ["e-4"]
    assert c.ended


def test_snapshot_restore_continues_identically():
    events = [iot_event(i, T0 + i * 7_000, temperature=float(i)) for i in range(40)]
    whole = core()
    expected = (
        whole.process(records(events)).results + whole.close_windows(end_of_stream=True).results
    )

    first = core()
    got = first.process(records(events[:17])).results
    second = core()
    second.restore(first.snapshot())
    got += (
        second.process(records(events[17:], first_sequence=18)).results
        + second.close_windows(end_of_stream=True).results
    )
    assert got == expected


def test_a_child_adopts_its_parents_dedupe_memory_and_watermark():
    parent = core()
    parent.process(records([iot_event(1, T0), iot_event(2, T0 + 40_000)]))
    (part,) = parent.close_windows().results
    assert dict(part.metrics)["events"] == 2
    child = core()
    child.adopt_parent(parent.snapshot())
    out = child.process(
        records([iot_event(2, T0 + 40_000), iot_event(3, T0 + 50_000)], first_sequence=9)
    )
    assert out.counters.duplicates == 1  # e-2 was seen by the parent
    assert child.newest_event_time_ms == T0 + 50_000


def snapshot_with(**changes) -> bytes:
    state = msgspec.msgpack.decode(zlib.decompress(core().snapshot()))
    return zlib.compress(msgspec.msgpack.encode(state | changes))


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"not a snapshot", "unreadable state snapshot"),
        (zlib.compress(b"\xc1"), "unreadable state snapshot"),  # 0xc1: never valid msgpack
        (snapshot_with(version=2), "unsupported snapshot version 2"),
        (snapshot_with(event_type="web"), "snapshot holds web state, not iot"),
    ],
    ids=["not zlib", "not msgpack", "version", "event type"],
)
def test_a_snapshot_that_is_not_this_cores_is_a_state_error(blob, message):
    for load in (core().restore, core().adopt_parent):
        with pytest.raises(StateError, match=message):
            load(blob)


def test_a_parent_snapshot_with_open_windows_is_a_state_error():
    parent = core()
    parent.process(records([iot_event(1, T0)]))
    with pytest.raises(StateError, match="taken after its windows were closed"):
        core().adopt_parent(parent.snapshot())


@settings(max_examples=150, deadline=None)
@given(event_lists, st.lists(st.integers(0, 200), max_size=6))
def test_results_and_late_events_equal_the_oracle_for_any_batch_split(events, splits):
    results, late, _ = run(events, splits)
    expected, expected_late = oracle(events, SIZE, LATENESS, ("device_id",))
    assert results == expected
    assert late == expected_late
