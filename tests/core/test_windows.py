"""Exact window results and late routing of the core on hand-computed inputs."""

import zlib

import msgspec
import pytest

from pipeline.config import load_config
from pipeline.core.dedupe import Deduper
from pipeline.core.errors import StateError
from pipeline.core.events.schema import event_type
from pipeline.core.records import RawRecord
from pipeline.core.shard import END_OF_STREAM, ShardCore
from pipeline.core.windows.spec import compile_jobs
from pipeline.testing import iot_event, records

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a window boundary
JOBS = compile_jobs(
    load_config(env={}).jobs_for("iot")
)  # device_minute: 1 m windows, 30 s lateness


def core() -> ShardCore:
    return ShardCore(event_type("iot"), JOBS, "shardId-000000000000")


def metrics(result):
    return dict(result.metrics)


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


def test_window_closes_exactly_when_the_watermark_reaches_its_end():
    c = core()
    assert c.process(records([iot_event(1, T0), iot_event(2, T0 + 89_999)])).results == []
    assert len(c.process(records([iot_event(3, T0 + 90_000)], first_sequence=3)).results) == 1


def test_late_event_is_routed_with_reason_not_counted():
    c = core()
    c.process(records([iot_event(1, T0), iot_event(2, T0 + 95_000)]))
    out = c.process(records([iot_event(3, T0 + 10_000, temperature=99.0)], first_sequence=3))
    (late,) = out.late
    assert (late.event_id, late.window_start_ms, late.watermark_ms) == ("e-3", T0, T0 + 65_000)
    assert (
        late.reason
        == f"late for job device_minute: window [{T0}, {T0 + 60_000}) closed at watermark "
        f"{T0 + 65_000}"
    )
    assert (late.sequence_number, late.record_id) == ("3", "device_minute|e-3")
    assert out.counters.late == 1 and out.results == []


def test_duplicates_are_dropped_and_counted():
    c = core()
    out = c.process(records([iot_event(1, T0), iot_event(1, T0), iot_event(2, T0 + 1)]))
    assert out.counters.duplicates == 1
    assert [r.sequence_number for r in out.events] == ["1", "3"]
    (result,) = c.close_windows(end_of_stream=True).results
    assert metrics(result)["events"] == 2


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


def test_invalid_records_become_dead_letters_with_position_and_raw_bytes():
    c = core()
    out = c.process([RawRecord(b"{oops", "pk-9", "17", 2, 123)])
    (dead,) = out.dead_letters
    assert (dead.shard_id, dead.sequence_number, dead.sub_sequence_number) == (
        "shardId-000000000000",
        "17",
        2,
    )
    assert dead.as_row()["data_base64"] == "e29vcHM="
    assert dead.reason.startswith("invalid JSON")
    assert dead.record_id == "shardId-000000000000|17|2"


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


def test_a_merged_child_of_two_split_siblings_holds_their_common_memory_once():
    grandparent = core()
    grandparent.process(records([iot_event(1, T0), iot_event(2, T0 + 1_000)]))
    grandparent.close_windows()
    siblings = [core(), core()]
    for sibling in siblings:  # a split: both children adopt the parent's dedupe memory
        sibling.adopt_parent(grandparent.snapshot())
        sibling.close_windows()
    merged = core()
    for sibling in siblings:  # then the two children are merged
        merged.adopt_parent(sibling.snapshot())
    assert len(merged.deduper) == 2
    merged.process(records([iot_event(3, T0 + 20 * 60_000)], first_sequence=5))  # forgets both
    assert len(merged.deduper) == 1


def test_merged_memories_keep_an_id_once_in_its_newest_bucket():
    deduper = Deduper(60_000, bucket_ms=1_000)
    deduper.load_state({"5": ["a", "b"]})
    deduper.merge({"7": ["a"], "3": ["b", "c"]})
    assert deduper.to_state() == {"7": ["a"], "5": ["b"], "3": ["c"]}


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
