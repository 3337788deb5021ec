"""The local engine: one process polls every shard and drives the record processors.

It plays the KCL's part on one machine, with the same lifecycle calls: a shard starts
(``initialize`` at its checkpoint; a child without one at TRIM_HORIZON, whatever the configured
initial position) only after its parents have ended, records are polled with
GetRecords and handed to ``process_records``, a fully read closed shard gets ``shard_ended``, and
a stop request gets ``shutdown_requested``. Checkpoints live in the state table (one item per
application and shard). For more than one machine, use the KCL engine: leases, balancing and
failover are the KCL's job, not this loop's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from consumers.kcl.status import RateMeter, ShardStatus
from consumers.lifecycle import (
    SHARD_END,
    InitializeInput,
    ProcessRecordsInput,
    ShardEndedInput,
    ShutdownRequestedInput,
)
from consumers.processor import ShardProcessor
from pipeline.aws.dynamodb import CheckpointTable
from pipeline.aws.kinesis import IteratorExpired, KinesisStream, ShardInfo
from pipeline.core.records import Checkpoint
from pipeline.core.results import Counters

log = logging.getLogger(__name__)


class LocalCheckpointer:
    """Checkpoints of one shard into the state table."""

    def __init__(self, table: CheckpointTable, shard_id: str) -> None:
        self.table = table
        self.shard_id = shard_id
        self.last = ""  # the last checkpoint written, and when (epoch s): for the metrics
        self.last_s = 0.0

    def checkpoint(
        self, sequence_number: str | None = None, sub_sequence_number: int | None = None
    ) -> None:
        checkpoint = Checkpoint(sequence_number or SHARD_END, sub_sequence_number or 0)
        self.table.set(self.shard_id, checkpoint)
        self.last, self.last_s = str(checkpoint), time.time()


@dataclass
class _Lease:
    shard: ShardInfo
    processor: ShardProcessor
    checkpointer: LocalCheckpointer
    iterator: str | None
    initial_position: str
    started_s: float = field(default_factory=time.time)
    rate: RateMeter = field(default_factory=RateMeter)

    def status(self, state: str) -> ShardStatus:
        """The shard as the metrics and the progress line see it."""
        c = self.processor.counters
        return ShardStatus(
            shard_id=self.shard.shard_id,
            state=state,
            pid=os.getpid(),
            updated_s=time.time(),
            started_s=self.started_s,
            records=c.records,
            events=c.events,
            duplicates=c.duplicates,
            late=c.late,
            dead_letters=c.dead_letters,
            results=c.results,
            records_per_second=self.rate.observe(c.records),
            millis_behind_latest=self.processor.millis_behind_latest,
            checkpoint=self.checkpointer.last,
            checkpoint_s=self.checkpointer.last_s,
            end_of_stream=self.processor.ended,
        )


@dataclass
class EngineStatus:
    """What the engine has done so far (for progress lines and the final summary)."""

    counters: Counters = field(default_factory=Counters)
    shards_active: int = 0
    shards_finished: int = 0
    millis_behind_latest: int = 0


class LocalEngine:
    """Polls all shards of a stream in one thread."""

    def __init__(
        self,
        stream: KinesisStream,
        checkpoints: CheckpointTable,
        new_processor: Callable[[], ShardProcessor],
        max_records: int = 10_000,
        poll_interval_s: float = 0.2,
        initial_position: str = "TRIM_HORIZON",
        shard_sync_interval_s: float = 10.0,
    ) -> None:
        self.stream = stream
        self.checkpoints = checkpoints
        self.new_processor = new_processor
        self.max_records = max_records
        self.poll_interval_s = poll_interval_s
        self.initial_position = initial_position
        self.shard_sync_interval_s = shard_sync_interval_s
        self._leases: dict[str, _Lease] = {}
        self._finished: set[str] = set()
        self._finished_counters = Counters()
        self._pending: int = 0
        self._ended: dict[str, ShardStatus] = {}  # shards this run read to their end
        self._statuses: list[ShardStatus] = []

    def statuses(self) -> list[ShardStatus]:
        """Every shard this run has read, as of the last poll (safe from another thread: the
        metrics server's)."""
        return self._statuses

    def _publish(self) -> None:
        live = [lease.status("processing") for lease in self._leases.values()]
        self._statuses = sorted([*self._ended.values(), *live], key=lambda s: s.shard_id)

    def status(self) -> EngineStatus:
        counters = Counters()
        counters.add(self._finished_counters)
        for lease in self._leases.values():
            counters.add(lease.processor.counters)
        behind = max(
            (lease.processor.millis_behind_latest for lease in self._leases.values()), default=0
        )
        return EngineStatus(counters, len(self._leases), len(self._finished), behind)

    def run(
        self,
        stop: threading.Event | None = None,
        until_end_of_stream: bool = False,
        on_progress: Callable[[EngineStatus], None] | None = None,
        progress_interval_s: float = 2.0,
    ) -> EngineStatus:
        """Poll until ``stop`` is set (or, with ``until_end_of_stream``, every shard has ended).

        Every ``progress_interval_s`` the shards' statuses are published (:meth:`statuses`)
        and ``on_progress`` is called."""
        stop = stop or threading.Event()
        next_sync = 0.0
        next_progress = time.monotonic() + progress_interval_s
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_sync:
                    self._sync_shards()
                    next_sync = now + self.shard_sync_interval_s
                busy, shards_ended = self._poll_once()
                if shards_ended:
                    next_sync = 0.0  # children may start now
                if until_end_of_stream and self._all_ended():
                    break
                if time.monotonic() >= next_progress:
                    self._publish()
                    if on_progress:
                        on_progress(self.status())
                    next_progress = time.monotonic() + progress_interval_s
                if not busy:
                    stop.wait(self.poll_interval_s)
        finally:
            self._shutdown()
            self._publish()
        return self.status()

    def _all_ended(self) -> bool:
        if self._pending:
            return False
        return all(lease.processor.ended for lease in self._leases.values()) and bool(
            self._leases or self._finished
        )

    def _sync_shards(self) -> None:
        shards = self.stream.shards()
        known = {s.shard_id for s in shards}
        self._pending = 0
        for shard in shards:
            if shard.shard_id in self._leases or shard.shard_id in self._finished:
                continue
            checkpoint = self.checkpoints.get(shard.shard_id)
            if checkpoint is not None and checkpoint.sequence_number == SHARD_END:
                self._finished.add(shard.shard_id)
                continue
            # a child starts only after every parent still in the stream has ended
            if any(p in known and p not in self._finished for p in shard.parents):
                self._pending += 1
                continue
            # ... and from its first record: its parents' data ends where it begins
            child = any(p in known for p in shard.parents)
            self._start(shard, checkpoint, "TRIM_HORIZON" if child else self.initial_position)

    def _start(
        self, shard: ShardInfo, checkpoint: Checkpoint | None, initial_position: str
    ) -> None:
        processor = self.new_processor()
        if checkpoint is None:
            processor.initialize(InitializeInput(shard.shard_id, initial_position))
        else:
            processor.initialize(
                InitializeInput(
                    shard.shard_id, checkpoint.sequence_number, checkpoint.sub_sequence_number
                )
            )
        iterator = self.stream.iterator(shard.shard_id, checkpoint, initial_position)
        checkpointer = LocalCheckpointer(self.checkpoints, shard.shard_id)
        self._leases[shard.shard_id] = _Lease(
            shard, processor, checkpointer, iterator, initial_position
        )
        log.info("lease started", extra={"shard": shard.shard_id, "checkpoint": str(checkpoint)})

    def _poll_once(self) -> tuple[bool, bool]:
        busy = False
        ended = False
        for shard_id, lease in list(self._leases.items()):
            if lease.iterator is None:
                continue
            try:
                result = self.stream.read(lease.iterator, self.max_records)
            except IteratorExpired:
                lease.iterator = self.stream.iterator(
                    shard_id, lease.processor.position, lease.initial_position
                )
                continue
            busy = busy or bool(result.records)
            # an empty batch too, as the KCL's callProcessRecordsEvenForEmptyRecordList: the
            # processor's idle tick (a quiet shard's windows close on the wall clock)
            lease.processor.process_records(
                ProcessRecordsInput(result.records, lease.checkpointer, result.millis_behind_latest)
            )
            lease.iterator = result.next_iterator
            if result.next_iterator is None:
                lease.processor.shard_ended(ShardEndedInput(lease.checkpointer))
                self._ended[shard_id] = lease.status("ended")
                self._finished_counters.add(lease.processor.counters)
                self._finished.add(shard_id)
                del self._leases[shard_id]
                ended = True
        return busy, ended

    def _shutdown(self) -> None:
        for lease in self._leases.values():
            if not lease.processor.shut_down:
                lease.processor.shutdown_requested(ShutdownRequestedInput(lease.checkpointer))
