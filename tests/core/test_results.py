"""The core's outputs: window results as a sequence over columns; late events and dead letters,
with their reasons, their positions in the shard and their deterministic ids."""

import pytest

from pipeline.core.records import RawRecord
from pipeline.testing import iot_event, records
from tests.core.shards import T0, core


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


def test_window_results_read_as_rows_or_columns_alike():
    """Outcome.results holds each job's closed windows as columns; as a sequence it is the list
    of their WindowResults (indexing, slicing, equality, concatenation)."""
    c = core()
    events = [iot_event(i, T0 + i * 1_000, device=f"dev-{i % 3}", temperature=i) for i in range(9)]
    c.process(records(events))
    out = c.close_windows(end_of_stream=True)
    rows = list(out.results)
    (part,) = out.results.parts
    assert [dict(r.group)["device_id"] for r in rows] == part.group_column("device_id")
    assert [dict(r.metrics)["temperature_max"] for r in rows] == [6.0, 7.0, 8.0]
    assert part.metric_column("temperature_max") == [6.0, 7.0, 8.0]
    assert part.window_starts == [T0] * 3 and len(out.results) == 3
    assert (
        out.results[-1] == rows[2]
        and out.results[1:] == rows[1:]
        and out.results[::2]
        == [
            rows[0],
            rows[2],
        ]
    )
    assert out.results == rows and out.results + rows == rows + out.results == rows * 2
    out.results.extend(rows[:1])
    assert out.results == [*rows, rows[0]] and len(out.results.parts) == 2
    with pytest.raises(IndexError):
        out.results[4]
