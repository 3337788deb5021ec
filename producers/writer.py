"""Kinesis PutRecords within the service limits, retrying only the entries that failed.

Records arrive in blocks (or one at a time) and leave in calls planned by
:mod:`producers.batching` (500 records, 5 MiB, per-shard budgets, and the order rules that keep
the ground truth's labels true under retries), each sent by
:meth:`pipeline.aws.kinesis.KinesisStream.put_records`. Per-entry failures (``FailedRecordCount``:
throttling, internal errors) are retried with capped exponential backoff and full jitter, the
failed entries only and in their original order, a bounded number of times; a failed call
(throttled, 5xx, a timeout) is retried whole, and one that would fail again (a missing stream,
a refusal, bad credentials, an invalid request) raises its error at once, saying what was
delivered. What still fails is never dropped silently:
:meth:`KinesisWriter.close` raises :class:`DeliveryError` saying what was and was not delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.aws.errors import amended, retryable
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.retry import Backoff
from pipeline.core.errors import DeliveryError, PipelineError
from producers.batching import CallLimits, StreamClock, plan_calls
from producers.block import Block, Outgoing
from producers.shards import ShardBudgets

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 1024 * 1024
#: Attempts per record before it counts as undelivered (backoff capped at 5 s: about a minute).
MAX_ATTEMPTS = 16
#: Records buffered before calls are planned (a call needs up to 500 of them).
_PLAN_AT = 2_000


@dataclass
class WriterStats:
    records: int = 0  # Kinesis records delivered
    user_records: int = 0  # records inside them (more than ``records`` when aggregated)
    bytes: int = 0  # as Kinesis counts them: data and partition keys
    calls: int = 0
    retried_entries: int = 0
    failed: int = 0
    throttled_s: float = 0.0  # time spent waiting for the shards' budgets
    error_codes: dict[str, int] = field(default_factory=dict)


class KinesisWriter:
    """Buffers records into PutRecords calls; ``flush`` sends everything buffered."""

    def __init__(
        self,
        client: Any,
        stream: str,
        backoff: Backoff | None = None,
        on_delivered: Callable[[Block], None] | None = None,
        max_record_bytes: int = MAX_RECORD_BYTES,
        budgets: ShardBudgets | None = None,
        lateness_ms: int | None = None,
        max_call_records: int = 500,
        on_progress: Callable[[WriterStats], None] | None = None,
    ) -> None:
        self.kinesis = KinesisStream(client, stream)
        self.stream = stream
        self.backoff = backoff or Backoff(max_attempts=MAX_ATTEMPTS)
        self.on_delivered = on_delivered
        self.on_progress = on_progress
        self.max_record_bytes = max_record_bytes
        self.budgets = budgets
        self.limits = CallLimits(
            lateness_ms=lateness_ms,
            shard_records=budgets.shard_records if budgets else None,
            shard_bytes=budgets.shard_bytes if budgets else None,
            records=max_call_records,
        )
        self.stats = WriterStats()
        self._clock = StreamClock()
        self._pending: list[Block] = []
        self._pending_rows = 0
        self._singles: list[Outgoing] = []
        self._undelivered = 0

    def put(self, record: Outgoing) -> None:
        """One record (no event time: only the size limits apply to it)."""
        self._singles.append(record)
        if len(self._singles) >= _PLAN_AT:
            self._take_singles()

    def put_block(self, block: Block) -> None:
        """Records in send order; full calls are sent as they fill up."""
        self._take_singles()
        self._clock.stamp(block)
        self._pending.append(block)
        self._pending_rows += len(block)
        if self._pending_rows >= _PLAN_AT:
            self._send_pending(final=False)

    def flush(self) -> None:
        """Send everything buffered (whole calls, each retried before the next)."""
        self._take_singles()
        self._send_pending(final=True)

    def close(self) -> WriterStats:
        """Flush, then raise :class:`DeliveryError` if anything could not be delivered."""
        self.flush()
        if self._undelivered:
            raise DeliveryError(
                f"{self._undelivered} records were not delivered to {self.stream} after "
                f"{self.backoff.max_attempts} attempts (delivered: {self.stats.records}); "
                f"errors: {self.stats.error_codes}",
                self.stats.records,
                self._undelivered,
            )
        return self.stats

    def _take_singles(self) -> None:
        if self._singles:
            block, self._singles = Block.of(self._singles), []
            self.put_block(block)

    def _send_pending(self, final: bool) -> None:
        if not self._pending:
            return
        block = Block.concat(self._pending)
        sizes = self._sizes(block)
        budgets = self.budgets
        shards = (
            budgets.shard_map.indices(block.keys, block.hash_keys)
            if budgets is not None and budgets.shard_records is not None
            else None
        )
        ends = plan_calls(block, sizes, shards, self.limits, final)
        *calls, rest = block.split(ends)
        for call, start, end in zip(calls, [0, *ends], ends, strict=False):
            if budgets is not None:
                call_shards = shards[start:end] if shards is not None else None
                budgets.take(call_shards, sizes[start:end], call.user_records)
                self.stats.throttled_s = budgets.waited_s
            self._send(call, sizes[start:end])
            if self.on_progress is not None:
                self.on_progress(self.stats)
        self._pending = [rest] if len(rest) else []
        self._pending_rows = len(rest)

    def _sizes(self, block: Block) -> np.ndarray:
        """Bytes of each record as Kinesis counts them (data plus partition key)."""
        sizes = block.sizes()
        if len(sizes) and sizes.max() > self.max_record_bytes:
            raise DeliveryError(
                f"a record of {int(sizes.max())} bytes exceeds the {self.max_record_bytes}-byte "
                f"limit (delivered so far: {self.stats.records})",
                self.stats.records,
                int((sizes > self.max_record_bytes).sum()),
            )
        return sizes

    def _send(self, call: Block, sizes: np.ndarray) -> None:
        pending = call
        for attempt in range(1, self.backoff.max_attempts + 1):
            try:
                failed = self.kinesis.put_records(_entries(pending))
            except PipelineError as exc:
                if retryable(exc):  # the whole call failed (throttled, 5xx, a timeout): again
                    self._count_error(getattr(exc, "code", type(exc).__name__))
                    self.backoff.pause(attempt)
                    continue
                # a missing stream, a refusal, bad credentials: the same call fails again
                self._undelivered += len(pending)
                raise amended(
                    exc,
                    f"(delivered {self.stats.records}, undelivered {self._undelivered}: the "
                    "call in flight and earlier failures; nothing after them was sent)",
                ) from exc
            self.stats.calls += 1
            if not failed:
                self._delivered(pending, sizes)
                return
            for code in failed.values():
                self._count_error(code)
            failed_rows = np.array(list(failed), np.int64)
            stored = np.setdiff1d(np.arange(len(pending)), failed_rows)
            self._delivered(pending.take(stored), sizes[stored])
            self.stats.retried_entries += len(failed)
            pending, sizes = pending.take(failed_rows), sizes[failed_rows]
            self.backoff.pause(attempt)
        log.error(
            "records undelivered after retries",
            extra={"count": len(pending), "stream": self.stream},
        )
        self.stats.failed += len(pending)
        self._undelivered += len(pending)

    def _delivered(self, records: Block, sizes: np.ndarray) -> None:
        if not len(records):
            return
        self.stats.records += len(records)
        self.stats.user_records += records.user_records
        self.stats.bytes += int(sizes.sum())
        if self.on_delivered is not None:
            self.on_delivered(records)

    def _count_error(self, code: str) -> None:
        self.stats.error_codes[code] = self.stats.error_codes.get(code, 0) + 1


def _entries(block: Block) -> list[dict[str, Any]]:
    if block.hash_keys is None:
        return [{"Data": d, "PartitionKey": k} for d, k in zip(block.data, block.keys, strict=True)]
    entries = []
    for data, key, explicit in zip(block.data, block.keys, block.hash_keys, strict=True):
        entry: dict[str, Any] = {"Data": data, "PartitionKey": key}
        if explicit is not None:
            entry["ExplicitHashKey"] = explicit
        entries.append(entry)
    return entries
