"""The record processor's durability contract, with in-memory sinks (no AWS)."""

from __future__ import annotations

import random

import pytest

from consumers.lifecycle import (
    CheckpointFailed,
    InitializeInput,
    LeaseLostInput,
    ProcessRecordsInput,
    ShardEndedInput,
    ShutdownRequestedInput,
)
from consumers.processor import ShardProcessor
from pipeline.aws.retry import Backoff
from pipeline.config import load_config
from pipeline.config import shipped_event_type as event_type
from pipeline.core.errors import SinkError, StateError
from pipeline.core.records import Checkpoint, RawRecord
from pipeline.core.shard import ShardCore
from pipeline.testing import (
    BOUNDED,
    MemoryCheckpointer,
    MemorySink,
    MemoryStateStore,
    iot_event,
    records,
)
from tests.oracle import oracle

T0 = 1_767_225_600_000
JOBS = load_config(env={}).jobs_for("iot")
SHARD = "shardId-000000000001"


def processor(sink, state, interval=0.0) -> ShardProcessor:
    return ShardProcessor(
        lambda shard: ShardCore(event_type("iot"), JOBS, shard, BOUNDED),
        sink,
        state,
        checkpoint_interval_s=interval,
        backoff=Backoff(base_s=0, max_attempts=3, sleep=lambda _: None),
    )


def stream(n=600, seed=3) -> list[dict]:
    rng = random.Random(seed)
    events = [
        iot_event(
            i,
            T0 + i * 1_000 + rng.randrange(20_000),
            device=f"d{i % 7}",
            temperature=float(rng.randrange(40)),
        )
        for i in range(n)
    ]
    for i in rng.sample(range(n), 30):  # duplicates re-sent a little later
        events.insert(min(n, i + rng.randrange(1, 20)), dict(events[i]))
    return events


def test_checkpoint_follows_durable_sink_write():
    sink, state, checkpointer = MemorySink(), MemoryStateStore(), MemoryCheckpointer()
    p = processor(sink, state)
    p.initialize(InitializeInput(SHARD, "TRIM_HORIZON"))
    p.process_records(ProcessRecordsInput(records([iot_event(1, T0)]), checkpointer))
    assert checkpointer.checkpoints == [("1", 0)]
    assert (
        state.load(SHARD, checkpointer.last) is not None
    )  # the snapshot exists before the checkpoint

    sink.fail_next = 1
    with pytest.raises(SinkError):
        p.process_records(
            ProcessRecordsInput(records([iot_event(2, T0 + 1)], first_sequence=2), checkpointer)
        )
    assert checkpointer.checkpoints == [("1", 0)]
    # the state ran ahead of the sinks: it is dropped and can never be checkpointed
    p.shutdown_requested(ShutdownRequestedInput(checkpointer))
    assert checkpointer.checkpoints == [("1", 0)]


def test_crashes_at_random_points_never_double_count_or_lose_events():
    events = stream()
    batch = records(events)
    expected, expected_late = oracle(events, 60_000, 30_000, ("device_id", "device_type", "site"))
    sink, state, checkpointer = MemorySink(), MemoryStateStore(), MemoryCheckpointer()
    rng = random.Random(11)
    position = 0  # index of the next record to deliver (as Kinesis would, after the checkpoint)
    crashes = 0
    while True:
        p = processor(sink, state, interval=rng.choice([0.0, 0.0, 1e9]))
        last = checkpointer.last
        p.initialize(InitializeInput(SHARD, last.sequence_number if last else "TRIM_HORIZON"))
        position = int(last.sequence_number) if last else 0
        crash_at = position + rng.randrange(1, 150) if crashes < 8 else len(batch)
        while position < min(crash_at, len(batch)):
            size = rng.randrange(1, 60)
            p.process_records(ProcessRecordsInput(batch[position : position + size], checkpointer))
            position += size
        if crash_at >= len(batch):
            break
        crashes += 1  # a crash: the processor is gone, nothing of it is flushed
    got = {(r.window_start_ms, tuple(v for _, v in r.group)): r for r in sink.results.values()}
    p.shutdown_requested(ShutdownRequestedInput(checkpointer))
    final = processor(sink, state)
    final.initialize(InitializeInput(SHARD, checkpointer.last.sequence_number))
    for r in final.core.close_windows(end_of_stream=True).results:
        got[(r.window_start_ms, tuple(v for _, v in r.group))] = r
    assert crashes == 8
    assert {
        k: {
            m: v
            for m, v in r.metrics
            if m in ("events", "temperature_min", "temperature_max", "battery_min")
        }
        for k, r in got.items()
    } == {
        k: {
            m: v
            for m, v in e.items()
            if m in ("events", "temperature_min", "temperature_max", "battery_min")
        }
        for k, e in expected.items()
    }
    for key, r in got.items():
        assert dict(r.metrics)["temperature_avg"] == pytest.approx(
            expected[key]["temperature_avg"], rel=1e-12
        )
    # appended outputs may repeat after a replay, but each id once is exactly the truth
    assert {e["event_id"] for e in sink.events} == {e["event_id"] for e in events}
    assert {late.event_id for late in sink.late} == set(expected_late)


def test_a_restart_inside_a_kpl_aggregate_skips_exactly_its_records_up_to_the_checkpoint():
    """The KCL re-delivers a whole aggregate after a checkpoint inside it: its user records up
    to the checkpoint lead the next batch and are skipped; the batches after are whole."""
    aggregate = [
        RawRecord(record.data, "pk", "5", sub)
        for sub, record in enumerate(records(iot_event(i, T0 + i) for i in range(4)))
    ]
    sink, state, checkpointer = MemorySink(), MemoryStateStore(), MemoryCheckpointer()
    first = processor(sink, state)
    first.initialize(InitializeInput(SHARD, "TRIM_HORIZON"))
    first.process_records(ProcessRecordsInput(aggregate[:2], checkpointer))
    assert checkpointer.last == Checkpoint("5", 1)

    again = processor(sink, state)
    again.initialize(InitializeInput(SHARD, "5", 1))
    after = records([iot_event(4, T0 + 4)], first_sequence=6)
    again.process_records(ProcessRecordsInput([*aggregate, *after], checkpointer))
    later = records([iot_event(5, T0 + 5), iot_event(6, T0 + 6)], first_sequence=7)
    again.process_records(ProcessRecordsInput(later, checkpointer))
    kept = [(e["sequence_number"], e["sub_sequence_number"]) for e in sink.events]
    assert kept == [("5", 0), ("5", 1), ("5", 2), ("5", 3), ("6", 0), ("7", 0), ("8", 0)]
    assert again.counters.events == 7


def test_restart_at_a_checkpoint_without_its_snapshot_refuses_to_start():
    p = processor(MemorySink(), MemoryStateStore())
    with pytest.raises(StateError, match="has no state snapshot"):
        p.initialize(InitializeInput(SHARD, "42"))


def test_restart_with_an_unreadable_snapshot_refuses_to_start_and_keeps_no_state():
    state = MemoryStateStore()
    state.save(SHARD, Checkpoint("42"), b"garbage")
    p = processor(MemorySink(), state)
    with pytest.raises(StateError, match=f"{SHARD}: checkpoint 42's snapshot: unreadable"):
        p.initialize(InitializeInput(SHARD, "42"))
    assert p.core is None


def test_lease_lost_never_checkpoints_and_shard_end_checkpoints_shard_end():
    sink, state, checkpointer = MemorySink(), MemoryStateStore(), MemoryCheckpointer()
    p = processor(sink, state, interval=1e9)
    p.initialize(InitializeInput(SHARD, "TRIM_HORIZON"))
    p.process_records(ProcessRecordsInput(records([iot_event(1, T0)]), checkpointer))
    p.lease_lost(LeaseLostInput())
    assert checkpointer.checkpoints == []

    p = processor(sink, state, interval=1e9)
    p.initialize(InitializeInput(SHARD, "TRIM_HORIZON"))
    p.process_records(ProcessRecordsInput(records([iot_event(1, T0)]), checkpointer))
    p.shard_ended(ShardEndedInput(checkpointer))
    assert checkpointer.checkpoints == [(None, None)]


class FlakyCheckpointer(MemoryCheckpointer):
    def __init__(self, errors: list[str]):
        super().__init__()
        self.errors = errors

    def checkpoint(self, sequence_number=None, sub_sequence_number=None):
        if self.errors:
            raise CheckpointFailed(self.errors.pop(0))
        super().checkpoint(sequence_number, sub_sequence_number)


def test_checkpoint_errors_are_handled_as_the_kcl_documents():
    p = processor(MemorySink(), MemoryStateStore())
    p.initialize(InitializeInput(SHARD, "TRIM_HORIZON"))
    throttled = FlakyCheckpointer(["ThrottlingException", "ThrottlingException"])
    p.process_records(ProcessRecordsInput(records([iot_event(1, T0)]), throttled))
    assert throttled.checkpoints == [("1", 0)]

    shutting_down = FlakyCheckpointer(["ShutdownException"])
    p.process_records(
        ProcessRecordsInput(records([iot_event(2, T0)], first_sequence=2), shutting_down)
    )
    assert shutting_down.checkpoints == [] and p.shut_down

    invalid = FlakyCheckpointer(["InvalidStateException"])
    with pytest.raises(CheckpointFailed):
        p.process_records(
            ProcessRecordsInput(records([iot_event(3, T0)], first_sequence=3), invalid)
        )
