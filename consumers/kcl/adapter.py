"""The amazon_kclpy v3 record processor: the MultiLangDaemon's lifecycle -> ShardProcessor.

The daemon starts one child process per shard lease and drives it with JSON lines; amazon_kclpy
decodes them and calls this processor, which converts the messages into the engine-neutral
inputs of :mod:`consumers.lifecycle` and delegates to :class:`~consumers.processor.ShardProcessor`
(process, flush sinks, snapshot, checkpoint; SHARD_END after the children's snapshot; never a
checkpoint after a lease loss). Records arrive de-aggregated by the KCL (KPL sub-sequence
numbers included) and base64-encoded.

Failures: amazon_kclpy's ``KCLProcess`` logs an exception raised by a processor and carries on,
which would let the daemon read past records whose effects were never written. Here any
exception is fatal instead: the status file says why, and the child exits with
:data:`EXIT_PROCESSOR_FAILED`, so the daemon stops (as the KCL does when a child dies) and a
restart replays from the last checkpoint, with that checkpoint's state.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from amazon_kclpy.checkpoint_error import CheckpointError
from amazon_kclpy.v3.processor import RecordProcessorBase

from consumers.kcl.status import RateMeter, ShardStatus, StatusFile
from consumers.lifecycle import (
    SHARD_END,
    CheckpointFailed,
    InitializeInput,
    LeaseLostInput,
    ProcessRecordsInput,
    ShardEndedInput,
    ShutdownRequestedInput,
)
from consumers.processor import ShardProcessor
from pipeline.core.records import RawRecord, RecordBatch

log = logging.getLogger(__name__)

#: The child's exit status when its processor failed (the daemon then exits with 1).
EXIT_PROCESSOR_FAILED = 3


class KclCheckpointer:
    """:class:`consumers.lifecycle.Checkpointer` over amazon_kclpy's checkpointer."""

    def __init__(self, checkpointer: Any) -> None:
        self._checkpointer = checkpointer

    def checkpoint(
        self, sequence_number: str | None = None, sub_sequence_number: int | None = None
    ) -> None:
        try:
            self._checkpointer.checkpoint(sequence_number, sub_sequence_number)
        except CheckpointError as exc:  # the KCL exception's name, e.g. ThrottlingException
            raise CheckpointFailed(str(exc.value)) from exc


def raw_records(records: Iterable[Any]) -> Sequence[RawRecord]:
    """amazon_kclpy ``Record`` messages as the core's raw records (records framed in bulk by
    :mod:`consumers.kcl.framing` already are: a :class:`RecordBatch`)."""
    if isinstance(records, RecordBatch):
        return records
    return [
        RawRecord(
            base64.b64decode(record.data),
            record.partition_key,
            record.sequence_number,
            record.sub_sequence_number or 0,
            record.timestamp_millis,
        )
        for record in records
    ]


class KclRecordProcessor(RecordProcessorBase):
    """One shard lease, as the MultiLangDaemon drives it (amazon_kclpy v3 interface)."""

    def __init__(
        self,
        processor: ShardProcessor,
        status_dir: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.processor = processor
        self._status_dir = status_dir
        self._file: StatusFile | None = None
        self._status: ShardStatus | None = None
        self._rate = RateMeter()
        self._wall_clock = wall_clock

    def initialize(self, initialize_input: Any) -> None:
        shard_id = initialize_input.shard_id
        if self._status_dir:
            self._file = StatusFile(self._status_dir, shard_id)
        now = self._wall_clock()
        self._status = ShardStatus(
            shard_id=shard_id, state="initializing", pid=os.getpid(), updated_s=now, started_s=now
        )
        self._guard(
            lambda: self.processor.initialize(
                InitializeInput(
                    shard_id,
                    initialize_input.sequence_number,
                    initialize_input.sub_sequence_number,
                )
            )
        )
        self._report("processing")

    def process_records(self, process_records_input: Any) -> None:
        batch = ProcessRecordsInput(
            raw_records(process_records_input.records),
            KclCheckpointer(process_records_input.checkpointer),
            int(process_records_input.millis_behind_latest or 0),
        )
        self._guard(lambda: self.processor.process_records(batch))
        self._report("processing")

    def lease_lost(self, lease_lost_input: Any) -> None:
        self._guard(lambda: self.processor.lease_lost(LeaseLostInput()))
        self._report("lease_lost")

    def shard_ended(self, shard_ended_input: Any) -> None:
        checkpointer = KclCheckpointer(shard_ended_input.checkpointer)
        self._guard(lambda: self.processor.shard_ended(ShardEndedInput(checkpointer)))
        self._report("ended", checkpoint=SHARD_END)

    def shutdown_requested(self, shutdown_requested_input: Any) -> None:
        checkpointer = KclCheckpointer(shutdown_requested_input.checkpointer)
        self._guard(lambda: self.processor.shutdown_requested(ShutdownRequestedInput(checkpointer)))
        self._report("shut_down")

    def _guard(self, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> NoReturn:
        shard = self._status.shard_id if self._status else "?"
        log.exception("record processor failed; exiting", extra={"shard": shard})
        self._report("failed", error=f"{type(exc).__name__}: {exc}")
        raise SystemExit(EXIT_PROCESSOR_FAILED) from exc

    def _report(self, state: str, checkpoint: str | None = None, error: str = "") -> None:
        status = self._status
        if status is None:
            return
        now = self._wall_clock()
        processor = self.processor
        if processor.core is not None:  # after a lease loss, keep the last known counters
            counters = processor.counters
            status.records = counters.records
            status.events = counters.events
            status.duplicates = counters.duplicates
            status.late = counters.late
            status.dead_letters = counters.dead_letters
            status.results = counters.results
            status.records_per_second = round(self._rate.observe(counters.records), 3)
        status.millis_behind_latest = processor.millis_behind_latest
        if checkpoint is None and processor.checkpointed is not None:
            checkpoint = str(processor.checkpointed)
        if checkpoint is not None and checkpoint != status.checkpoint:
            status.checkpoint = checkpoint
            status.checkpoint_s = now
        status.end_of_stream = processor.ended
        status.state = state
        status.error = error
        status.updated_s = now
        if self._file is not None:
            try:
                self._file.write(status)
            except OSError as exc:  # metrics are not worth stopping a shard for
                log.warning("cannot write the status file", extra={"error": str(exc)})
