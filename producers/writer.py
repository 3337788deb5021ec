"""Kinesis PutRecords batching within the service limits, retrying only failed entries.

A call carries at most 500 records and 5 MiB; a record (data plus partition key) at most 1 MiB.
Per-entry failures (``FailedRecordCount``: throttling, internal errors) are retried with capped
exponential backoff and full jitter, failed entries first and in their original order, a bounded
number of times. What still fails is never dropped silently: :meth:`close` raises
:class:`DeliveryError` with the counts of what was and was not delivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws.retry import Backoff
from pipeline.errors import DeliveryError, ResourceMissingError
from producers.chaos import Outgoing
from producers.shards import ShardBudgets

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024


@dataclass
class WriterStats:
    records: int = 0
    user_records: int = 0
    bytes: int = 0
    calls: int = 0
    retried_entries: int = 0
    failed: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)


class KinesisWriter:
    """Buffers records into PutRecords calls; ``flush`` sends what is buffered."""

    def __init__(
        self,
        client: Any,
        stream: str,
        backoff: Backoff | None = None,
        on_delivered: Callable[[list[Outgoing]], None] | None = None,
        max_record_bytes: int = MAX_RECORD_BYTES,
        budgets: ShardBudgets | None = None,
        linger_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.stream = stream
        self.backoff = backoff or Backoff(max_attempts=10)
        self.on_delivered = on_delivered
        self.max_record_bytes = max_record_bytes
        self.budgets = budgets
        self.linger_s = linger_s
        self.clock = clock
        self.stats = WriterStats()
        self._batch: list[Outgoing] = []
        self._batch_bytes = 0
        self._batch_started = 0.0
        self._undelivered: list[Outgoing] = []

    def put(self, record: Outgoing) -> None:
        size = len(record.data) + len(record.partition_key.encode("utf-8"))
        if size > self.max_record_bytes:
            raise DeliveryError(
                f"a record of {size} bytes exceeds the {self.max_record_bytes}-byte limit",
                self.stats.records,
                1,
            )
        if self._batch and (
            len(self._batch) == MAX_BATCH_RECORDS
            or self._batch_bytes + size > MAX_BATCH_BYTES
            or self.clock() - self._batch_started >= self.linger_s
        ):
            self.flush()
        if self.budgets is not None:
            self.budgets.take(
                record.partition_key, record.explicit_hash_key, size, len(record.members) or 1
            )
        if not self._batch:
            self._batch_started = self.clock()
        self._batch.append(record)
        self._batch_bytes += size

    def flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        self._send(batch)

    def close(self) -> WriterStats:
        """Flush, then raise :class:`DeliveryError` if anything could not be delivered."""
        self.flush()
        if self._undelivered:
            raise DeliveryError(
                f"{len(self._undelivered)} records were not delivered to {self.stream} after "
                f"{self.backoff.max_attempts} attempts (delivered: {self.stats.records}); "
                f"errors: {self.stats.error_codes}",
                self.stats.records,
                len(self._undelivered),
            )
        return self.stats

    def _send(self, batch: list[Outgoing]) -> None:
        pending = batch
        for attempt in range(1, self.backoff.max_attempts + 1):
            entries = []
            for record in pending:
                entry: dict[str, Any] = {"Data": record.data, "PartitionKey": record.partition_key}
                if record.explicit_hash_key is not None:
                    entry["ExplicitHashKey"] = record.explicit_hash_key
                entries.append(entry)
            try:
                response = self.client.put_records(StreamName=self.stream, Records=entries)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ResourceNotFoundException":
                    self._undelivered.extend(pending)
                    raise ResourceMissingError(
                        f"stream {self.stream!r} does not exist (delivered {self.stats.records}, "
                        f"undelivered {len(pending)} of this batch)"
                    ) from exc
                self._count_error(code)
                self.backoff.pause(attempt)
                continue
            except BotoCoreError as exc:
                self._count_error(type(exc).__name__)
                self.backoff.pause(attempt)
                continue
            self.stats.calls += 1
            failed = []
            delivered = []
            for record, result in zip(pending, response["Records"], strict=True):
                if "ErrorCode" in result:
                    failed.append(record)
                    self._count_error(result["ErrorCode"])
                else:
                    delivered.append(record)
            self.stats.records += len(delivered)
            self.stats.user_records += sum(len(r.members) or 1 for r in delivered)
            self.stats.bytes += sum(len(r.data) for r in delivered)
            if self.on_delivered and delivered:
                self.on_delivered(delivered)
            if not failed:
                return
            self.stats.retried_entries += len(failed)
            pending = failed
            self.backoff.pause(attempt)
        log.error(
            "records undelivered after retries",
            extra={"count": len(pending), "stream": self.stream},
        )
        self.stats.failed += len(pending)
        self._undelivered.extend(pending)

    def _count_error(self, code: str) -> None:
        self.stats.error_codes[code] = self.stats.error_codes.get(code, 0) + 1
