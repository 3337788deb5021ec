"""The shard core: control records, snapshots and resharding; and its outputs against the
record-at-a-time oracle for any batch split."""

from __future__ import annotations

import dataclasses
import zlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import shipped_event_type
from pipeline.core.errors import StateError
from pipeline.core.records import RawRecord
from pipeline.core.shard import END_OF_STREAM, ShardCore, ShardSettings
from pipeline.testing import iot_event, records
from tests.core.shards import DEVICE_MINUTE, LATENESS, SIZE, T0, core, event_lists, run
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


# -- event time you can trust in a live stream ------------------------------------------------

MINUTE = 60_000
LIVE = ShardSettings(idle_timeout_ms=10_000)  # a production shard: control records off


def arriving(events, arrival_ms: int, first_sequence: int = 1) -> list[RawRecord]:
    """Records as Kinesis delivers them: each with its approximate arrival time."""
    return [r._replace(approximate_arrival_ms=arrival_ms) for r in records(events, first_sequence)]


def live_core(settings: ShardSettings = LIVE) -> ShardCore:
    return ShardCore(shipped_event_type("iot"), DEVICE_MINUTE, "shard-live", settings)


def test_an_event_from_a_clock_in_the_future_is_a_dead_letter_and_never_moves_the_watermark():
    c = live_core()
    future = T0 + 5 * 365 * 86_400_000  # a device whose clock reads five years ahead
    out = c.process(
        arriving(
            [iot_event(1, future), iot_event(2, T0 + 1_000), iot_event(3, T0 + 6 * MINUTE)],
            arrival_ms=T0 + 2_000,
        )
    )
    reasons = [d.reason for d in out.dead_letters]
    assert len(reasons) == 2 and all(r.startswith("event time ahead of arrival") for r in reasons)
    assert reasons[0] == (
        "event time ahead of arrival: 1824d 23h past it (consumer.max_future_skew: 5m)"
    )
    assert c.newest_event_time_ms == T0 + 1_000  # the good event's, not the future one's
    later = c.process(arriving([iot_event(4, T0 + 3_000)], T0 + 4_000, first_sequence=4))
    assert later.late == [] and later.counters.events == 1  # nothing after it is late


def test_skew_up_to_the_limit_is_accepted_and_a_record_without_arrival_uses_the_clock():
    c = live_core()
    out = c.process(arriving([iot_event(1, T0 + 300_000)], arrival_ms=T0))  # exactly 5 m ahead
    assert out.counters.events == 1 and out.dead_letters == []
    out = c.process(records([iot_event(2, T0 + 400_000)], first_sequence=2), now_ms=T0)
    assert [d.reason[:27] for d in out.dead_letters] == ["event time ahead of arrival"]


def test_max_event_age_is_off_by_default_and_dead_letters_old_events_when_set():
    old = arriving([iot_event(1, T0)], arrival_ms=T0 + 86_400_000)
    assert live_core().process(old).counters.events == 1
    aged = live_core(ShardSettings(max_event_age_ms=3_600_000))
    (dead,) = aged.process(old).dead_letters
    assert dead.reason == "event older than consumer.max_event_age (1h): 1d behind its arrival"


def test_a_stray_end_of_stream_marker_is_a_dead_letter_in_production():
    c = live_core()
    batch = arriving([iot_event(1, T0)], T0)
    batch += [RawRecord(END_OF_STREAM, "x", "2"), *arriving([iot_event(3, T0 + 1)], T0, 3)]
    out = c.process(batch)
    (dead,) = out.dead_letters
    assert dead.reason.startswith("control record not enabled")
    assert out.results == [] and not c.ended and out.counters.events == 2


def test_an_idle_shard_advances_its_watermark_with_the_wall_clock():
    c = live_core()
    wall = T0 + 10 * MINUTE  # the consumer's clock when the records arrive
    c.process(arriving([iot_event(1, T0 + 5_000)], wall), now_ms=wall)
    assert c.tick(wall + 9_999).results == []  # not idle for the whole timeout yet
    # idle for 10 s: event time runs on from T0 + 5 s; the window [T0, T0 + 1 m) closes once
    # the watermark (newest - 30 s lateness) passes its end: at T0 + 90 s of event time
    assert c.tick(wall + 84_999).results == []
    (result,) = c.tick(wall + 85_000).results
    assert (result.window_start_ms, dict(result.metrics)["events"]) == (T0, 1)
    assert c.tick(wall + 200_000).results == []  # emitted once
    late = c.process(arriving([iot_event(2, T0 + 6_000)], wall), now_ms=wall + 200_001)
    assert [e.event_id for e in late.late] == ["e-2"]  # its window had closed


def test_idle_ticks_do_nothing_before_any_event_when_turned_off_or_once_ended():
    c = live_core()
    assert c.tick(T0).results == [] and c.tick(T0 + 3_600_000).results == []
    off = live_core(ShardSettings(idle_timeout_ms=0))
    off.process(arriving([iot_event(1, T0)], T0), now_ms=T0)
    assert off.tick(T0 + 3_600_000).results == []


def _changed(**changes) -> ShardCore:
    job = dataclasses.replace(DEVICE_MINUTE[0], **changes)
    return ShardCore(shipped_event_type("iot"), [job], "shard-live", LIVE)


def test_state_saved_under_another_definition_of_a_job_is_refused_naming_the_change():
    c = live_core()
    c.process(arriving([iot_event(1, T0)], T0))
    blob = c.snapshot()
    with pytest.raises(StateError) as raised:
        _changed(size_ms=5 * MINUTE).restore(blob)
    message = str(raised.value)
    assert message.startswith("job device_minute changed since its state was saved (window: '1m'")
    assert "'5m'" in message and "consumer.restart_jobs" in message and "1 open window" in message
    with pytest.raises(StateError, match="group_by"):
        _changed(group_by=("device_id",)).restore(blob)
    live_core().restore(blob)  # the same definition restores as before


def test_a_restarted_job_drops_and_counts_its_open_windows_and_then_restores_normally():
    c = live_core()
    c.process(arriving([iot_event(1, T0), iot_event(2, T0 + MINUTE)], T0 + MINUTE))
    restart = dataclasses.replace(LIVE, restart_jobs=frozenset({"device_minute"}))
    job = dataclasses.replace(DEVICE_MINUTE[0], lateness_ms=0)
    fresh = ShardCore(shipped_event_type("iot"), [job], "shard-live", restart)
    fresh.restore(c.snapshot())
    assert fresh.counters.dropped_windows == 2
    assert fresh.close_windows().results == []  # nothing merged into the new definition
    again = ShardCore(shipped_event_type("iot"), [job], "shard-live", restart)
    again.restore(fresh.snapshot())  # unchanged now: restart_jobs has no effect
    assert again.counters.dropped_windows == 2  # (the count carried, nothing more dropped)
