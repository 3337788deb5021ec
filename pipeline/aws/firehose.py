"""Firehose: rows -> packed records -> PutRecordBatch, within the API's limits, retrying failures.

Firehose bills every record rounded up to 5 KiB, and its record format conversion reads several
JSON documents concatenated in one record as several rows (a JSON array is not accepted). So the
rows, one newline-terminated JSON object each, are packed into records of up to ``record_kib``
KiB (at most 1,000 KiB, Firehose's record limit): a 400-byte row alone would be billed 5 KiB. A
call carries at most 500 records and 4 MiB. A record is accepted or refused whole, so a failed
entry is retried with every row in it; and a row the conversion rejects sends its record's other
rows to the error output with it. ``put`` returns only when every record was accepted (durable
in Firehose), or raises :class:`SinkError`: a checkpoint must never pass rows Firehose did not
take.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from pipeline.aws.errors import AwsFailure, aws_errors, retryable, translate
from pipeline.aws.retry import Backoff
from pipeline.core.errors import ConfigError, SinkError

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_KIB = 1000
MAX_RECORD_BYTES = MAX_RECORD_KIB * 1024

_encode = msgspec.json.Encoder().encode


def encode_row(row: dict[str, Any]) -> bytes:
    return _encode(row) + b"\n"


def pack(rows: Iterable[bytes], record_bytes: int) -> Iterator[bytes]:
    """Rows concatenated, in order, into records of at most ``record_bytes`` each (a larger row
    is a record of its own)."""
    parts: list[bytes] = []
    size = 0
    for row in rows:
        if parts and size + len(row) > record_bytes:
            yield b"".join(parts)
            parts, size = [], 0
        parts.append(row)
        size += len(row)
    if parts:
        yield b"".join(parts)


def chunks(records: list[bytes]) -> Iterator[list[bytes]]:
    """Split into PutRecordBatch calls: <= 500 records and <= 4 MiB each."""
    batch: list[bytes] = []
    size = 0
    for record in records:
        if batch and (len(batch) == MAX_BATCH_RECORDS or size + len(record) > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += len(record)
    if batch:
        yield batch


class FirehoseWriter:
    """Writes rows to one delivery stream, packed into records of up to ``record_kib`` KiB."""

    def __init__(
        self,
        client: Any,
        delivery_stream: str,
        backoff: Backoff | None = None,
        record_kib: int = MAX_RECORD_KIB,
    ) -> None:
        if not 1 <= record_kib <= MAX_RECORD_KIB:
            raise ConfigError(
                f"firehose.record_kib: {record_kib} is not within 1-{MAX_RECORD_KIB} "
                "(Firehose's record limit is 1,000 KiB)"
            )
        self.client = client
        self.delivery_stream = delivery_stream
        self.resource = f"Firehose delivery stream {delivery_stream!r}"
        self.backoff = backoff or Backoff()
        self.record_bytes = record_kib * 1024
        self.records_sent = 0
        self.rows_sent = 0

    def put(self, rows: Iterable[dict[str, Any]]) -> None:
        self.put_encoded([encode_row(row) for row in rows])

    def put_encoded(self, rows: list[bytes]) -> None:
        """Rows already encoded as one JSON object each (a newline is added)."""
        rows = [r if r.endswith(b"\n") else r + b"\n" for r in rows]
        for row in rows:
            if len(row) > MAX_RECORD_BYTES:
                raise SinkError(
                    f"{self.delivery_stream}: a row of {len(row)} bytes exceeds Firehose's "
                    f"{MAX_RECORD_BYTES}-byte record limit"
                )
        for batch in chunks(list(pack(rows, self.record_bytes))):
            self._put_batch(batch)
        self.rows_sent += len(rows)

    def _put_batch(self, batch: list[bytes]) -> None:
        pending = batch
        for attempt in range(1, self.backoff.max_attempts + 1):
            try:
                response = self.client.put_record_batch(
                    DeliveryStreamName=self.delivery_stream,
                    Records=[{"Data": data} for data in pending],
                )
            except AwsFailure as exc:  # retried like a partial failure, if it may succeed
                error = translate(exc, "PutRecordBatch", self.resource)
                if not retryable(error):
                    raise SinkError(f"cannot write rows to the lake: {error}") from error
                log.warning(
                    "firehose put failed", extra={"stream": self.delivery_stream, "error": str(exc)}
                )
                self.backoff.pause(attempt)
                continue
            if not response.get("FailedPutCount"):
                self.records_sent += len(pending)
                return
            failed = [
                data
                for data, result in zip(pending, response["RequestResponses"], strict=True)
                if result.get("ErrorCode")
            ]
            self.records_sent += len(pending) - len(failed)
            log.info(
                "firehose partial failure, retrying",
                extra={"stream": self.delivery_stream, "failed": len(failed), "attempt": attempt},
            )
            pending = failed
            self.backoff.pause(attempt)
        raise SinkError(
            f"{self.delivery_stream}: {len(pending)} records not accepted after "
            f"{self.backoff.max_attempts} attempts"
        )


def delivery_stream_status(client: Any, delivery_stream: str) -> str:
    """``ACTIVE``, ``CREATING``, ...; ResourceMissingError if the delivery stream does not exist."""
    with aws_errors("DescribeDeliveryStream", f"delivery stream {delivery_stream!r}"):
        description = client.describe_delivery_stream(DeliveryStreamName=delivery_stream)
    return str(description["DeliveryStreamDescription"]["DeliveryStreamStatus"])
