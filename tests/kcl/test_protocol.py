"""The KCL adapter driven through amazon_kclpy's KCLProcess with io.StringIO JSON lines.

Exactly what the MultiLangDaemon writes to the child's stdin goes in; exactly the protocol lines
the daemon expects must come out, in order.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import msgspec
import pytest
from amazon_kclpy.kcl import KCLProcess

from consumers.kcl.adapter import EXIT_PROCESSOR_FAILED, KclRecordProcessor
from consumers.kcl.status import read_statuses
from consumers.processor import ShardProcessor
from pipeline.core.results import Outcome
from pipeline.core.shard import END_OF_STREAM
from pipeline.testing import MemorySink, MemoryStateStore, iot_event
from tests.kcl.fakes import memory_processor

T0 = 1_767_225_600_000
SHARD = "shardId-000000000001"


def record(sequence: int, payload: dict[str, Any] | bytes, sub: int = 0) -> dict[str, Any]:
    data = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return {
        "action": "record",
        "data": base64.b64encode(data).decode(),
        "partitionKey": "pk",
        "sequenceNumber": str(sequence),
        "subSequenceNumber": sub,
        "approximateArrivalTimestamp": T0 + sequence,
    }


def initialize(sequence: str = "TRIM_HORIZON", shard: str = SHARD) -> dict[str, Any]:
    return {
        "action": "initialize",
        "shardId": shard,
        "sequenceNumber": sequence,
        "subSequenceNumber": 0,
    }


def process(*records: dict[str, Any], behind: int = 1_500) -> dict[str, Any]:
    return {"action": "processRecords", "millisBehindLatest": behind, "records": list(records)}


def checkpoint_reply(sequence: str | None, error: str | None = None) -> dict[str, Any]:
    return {
        "action": "checkpoint",
        "sequenceNumber": sequence,
        "subSequenceNumber": 0 if sequence else None,
        "error": error,
    }


def checkpoint(sequence: str | None) -> dict[str, Any]:
    return {
        "action": "checkpoint",
        "sequenceNumber": sequence,
        "subSequenceNumber": 0 if sequence else None,
    }


def status(action: str) -> dict[str, Any]:
    return {"action": "status", "responseFor": action}


class Journal(list):
    """One ordered log of protocol output, sink writes and final snapshots."""


class JournalOut(io.StringIO):
    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.journal.append(("protocol", json.loads(line)))
        return super().write(text)


class JournalSink(MemorySink):
    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def write(self, outcome: Outcome, shard_id: str) -> None:
        super().write(outcome, shard_id)
        self.journal.append(("sink", len(outcome.events), len(outcome.results)))


class JournalState(MemoryStateStore):
    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def save_final(self, shard_id: str, blob: bytes) -> None:
        super().save_final(shard_id, blob)
        self.journal.append(("final snapshot", shard_id))


def drive(
    processor: ShardProcessor, *messages: dict[str, Any], status_dir: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Feed ``messages`` as the daemon would; returns the protocol lines written and stderr."""
    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO("".join(json.dumps(m) + "\n" for m in messages))
    KCLProcess(KclRecordProcessor(processor, status_dir), stdin, out, err).run()
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return lines, err.getvalue()


def test_records_are_processed_flushed_then_checkpointed_and_shard_end_after_final_snapshot(
    tmp_path,
):
    journal = Journal()
    sink, state = JournalSink(journal), JournalState(journal)
    out = JournalOut(journal)
    stdin = io.StringIO(
        "".join(
            json.dumps(m) + "\n"
            for m in (
                initialize(),
                process(
                    record(1, iot_event(1, T0)),
                    record(2, iot_event(2, T0 + 1_000, device="dev-2")),
                    record(3, iot_event(1, T0)),  # a duplicate
                ),
                checkpoint_reply("3"),
                {"action": "shardEnded"},
                checkpoint_reply(None),
            )
        )
    )
    processor = memory_processor(sink, state)
    KCLProcess(KclRecordProcessor(processor, str(tmp_path)), stdin, out, io.StringIO()).run()

    assert journal == [
        ("protocol", status("initialize")),
        ("sink", 2, 0),
        ("protocol", checkpoint("3")),
        ("protocol", status("processRecords")),
        ("sink", 0, 2),  # the shard's parts of its two open windows, before anything else
        ("final snapshot", SHARD),  # for the children, before SHARD_END
        ("protocol", checkpoint(None)),  # SHARD_END
        ("protocol", status("shardEnded")),
    ]
    assert {(r.window_start_ms, dict(r.group)["device_id"]) for r in sink.results.values()} == {
        (T0, "dev-1"),
        (T0, "dev-2"),
    }
    (shard,) = read_statuses(tmp_path)
    assert (shard.shard_id, shard.state, shard.checkpoint) == (SHARD, "ended", "SHARD_END")
    assert (shard.records, shard.events, shard.duplicates, shard.results) == (3, 2, 1, 2)
    assert shard.millis_behind_latest == 1_500


def test_lease_lost_never_checkpoints_and_drops_state(tmp_path):
    processor = memory_processor(checkpoint_interval_s=1e9)
    lines, _ = drive(
        processor,
        initialize(),
        process(record(1, iot_event(1, T0))),
        {"action": "leaseLost"},
        status_dir=str(tmp_path),
    )
    assert lines == [status("initialize"), status("processRecords"), status("leaseLost")]
    assert processor.core is None
    (shard,) = read_statuses(tmp_path)
    assert (shard.state, shard.checkpoint, shard.records) == ("lease_lost", "", 1)


def test_shutdown_requested_checkpoints_the_last_record_processed():
    processor = memory_processor(checkpoint_interval_s=1e9)
    lines, _ = drive(
        processor,
        initialize(),
        process(record(7, iot_event(1, T0)), record(8, iot_event(2, T0))),
        {"action": "shutdownRequested"},
        checkpoint_reply("8"),
    )
    assert lines == [
        status("initialize"),
        status("processRecords"),
        checkpoint("8"),
        status("shutdownRequested"),
    ]


def test_restart_at_a_checkpoint_restores_its_snapshot_and_skips_redelivered_records():
    sink, state = MemorySink(), MemoryStateStore()
    drive(
        memory_processor(sink, state),
        initialize(),
        process(record(1, iot_event(1, T0))),
        checkpoint_reply("1"),
    )
    processor = memory_processor(sink, state)
    lines, _ = drive(
        processor,
        initialize("1"),
        process(record(1, iot_event(1, T0)), record(2, iot_event(1, T0))),  # 1 re-delivered
        checkpoint_reply("2"),
    )
    assert lines == [
        status("initialize"),
        checkpoint("2"),
        status("processRecords"),
    ]
    assert (processor.counters.records, processor.counters.duplicates) == (2, 1)


def test_a_throttled_checkpoint_is_retried_and_a_shutdown_exception_stops_checkpointing():
    processor = memory_processor()
    lines, _ = drive(
        processor,
        initialize(),
        process(record(1, iot_event(1, T0))),
        checkpoint_reply("1", "ThrottlingException"),
        checkpoint_reply("1"),
        process(record(2, iot_event(2, T0))),
        checkpoint_reply("2", "ShutdownException"),
    )
    assert lines == [
        status("initialize"),
        checkpoint("1"),
        checkpoint("1"),
        status("processRecords"),
        checkpoint("2"),
        status("processRecords"),
    ]
    assert processor.checkpointed.sequence_number == "1" and processor.shut_down


def test_invalid_state_is_fatal_the_child_exits_instead_of_carrying_on(tmp_path):
    with pytest.raises(SystemExit) as exited:
        drive(
            memory_processor(),
            initialize(),
            process(record(1, iot_event(1, T0))),
            checkpoint_reply("1", "InvalidStateException"),
            process(record(2, iot_event(2, T0))),  # never read
            status_dir=str(tmp_path),
        )
    assert exited.value.code == EXIT_PROCESSOR_FAILED
    (shard,) = read_statuses(tmp_path)
    assert shard.state == "failed" and shard.error == "CheckpointFailed: InvalidStateException"


def test_a_sink_outage_exits_without_checkpoint_so_the_batch_is_replayed(tmp_path):
    sink = MemorySink(fail_next=1)
    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO(
        "".join(json.dumps(m) + "\n" for m in (initialize(), process(record(1, iot_event(1, T0)))))
    )
    adapter = KclRecordProcessor(memory_processor(sink), str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        KCLProcess(adapter, stdin, out, err).run()
    assert exited.value.code == EXIT_PROCESSOR_FAILED
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert lines == [status("initialize")]  # no checkpoint, and no status for the failed batch
    (shard,) = read_statuses(tmp_path)
    assert (shard.state, shard.error) == ("failed", "SinkError: injected sink outage")


class Lineage:
    def __init__(self, parents: dict[str, tuple[str, ...]]) -> None:
        self._parents = parents

    def parents(self, shard_id: str) -> tuple[str, ...]:
        return self._parents.get(shard_id, ())


def test_a_merged_child_adopts_both_parents_dedupe_memory_and_watermark():
    sink, state = MemorySink(), MemoryStateStore()
    first, second, child = "shardId-000000000001", "shardId-000000000002", "shardId-000000000003"
    lineage = Lineage({child: (first, second)})
    drive(
        memory_processor(sink, state, lineage),
        initialize(shard=first),
        process(record(1, iot_event(1, T0 + 20_000, device="a"))),
        checkpoint_reply("1"),
        {"action": "shardEnded"},
        checkpoint_reply(None),
    )
    drive(
        memory_processor(sink, state, lineage),
        initialize(shard=second),
        process(record(1, iot_event(2, T0 + 100_000, device="b"))),
        checkpoint_reply("1"),
        {"action": "shardEnded"},
        checkpoint_reply(None),
    )
    processor = memory_processor(sink, state, lineage)
    drive(
        processor,
        initialize(shard=child),
        process(
            record(1, iot_event(1, T0 + 20_000, device="a")),  # a copy: the first parent's
            record(2, iot_event(3, T0 + 10_000, device="a")),  # late: the second's watermark
            record(3, iot_event(4, T0 + 101_000, device="b")),
            record(4, END_OF_STREAM),
        ),
        checkpoint_reply("4"),
    )
    counters = processor.counters
    assert (counters.records, counters.duplicates, counters.late, counters.events) == (3, 1, 1, 2)
    assert [late.event_id for late in sink.late] == ["e-3"]
    parts = {r.result_id: sorted(shards) for r, shards in _parts(sink)}
    assert parts == {
        f"device_minute|{T0}|device_id=a,device_type=thermostat,site=site-1": [first],
        f"device_minute|{T0 + 60_000}|device_id=b,device_type=thermostat,site=site-1": [
            second,
            child,
        ],
    }


def _parts(sink: MemorySink):
    for result_id, shards in sink.parts.items():
        yield sink.results[result_id], shards
