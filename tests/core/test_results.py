"""The core's outputs besides window results: late events and dead letters, with their reasons,
their positions in the shard and their deterministic ids."""

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
