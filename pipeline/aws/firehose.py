"""Firehose: rows -> PutRecordBatch, within the API's limits, retrying failed entries.

Each row becomes one JSON object per Firehose record (newline-terminated, as the JSON
deserializer of the Parquet conversion expects). A call carries at most 500 records and 4 MiB;
a record at most 1,000 KiB. ``put`` returns only when every record was accepted (durable in
Firehose), or raises :class:`SinkError`: a checkpoint must never pass rows Firehose did not take.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from pipeline.aws.errors import AwsFailure, aws_errors
from pipeline.aws.retry import Backoff
from pipeline.core.errors import SinkError

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024

_encode = msgspec.json.Encoder().encode


def encode_row(row: dict[str, Any]) -> bytes:
    return _encode(row) + b"\n"


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
    """Writes rows to one delivery stream."""

    def __init__(self, client: Any, delivery_stream: str, backoff: Backoff | None = None) -> None:
        self.client = client
        self.delivery_stream = delivery_stream
        self.backoff = backoff or Backoff()
        self.records_sent = 0

    def put(self, rows: Iterable[dict[str, Any]]) -> None:
        self.put_encoded([encode_row(row) for row in rows])

    def put_encoded(self, records: list[bytes]) -> None:
        """Records already encoded as one JSON object each (a newline is added)."""
        records = [r if r.endswith(b"\n") else r + b"\n" for r in records]
        for record in records:
            if len(record) > MAX_RECORD_BYTES:
                raise SinkError(
                    f"{self.delivery_stream}: a row of {len(record)} bytes exceeds Firehose's "
                    f"{MAX_RECORD_BYTES}-byte record limit"
                )
        for batch in chunks(records):
            self._put_batch(batch)

    def _put_batch(self, batch: list[bytes]) -> None:
        pending = batch
        for attempt in range(1, self.backoff.max_attempts + 1):
            try:
                response = self.client.put_record_batch(
                    DeliveryStreamName=self.delivery_stream,
                    Records=[{"Data": data} for data in pending],
                )
            except AwsFailure as exc:  # retried like a partial failure
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
