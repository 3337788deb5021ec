"""DynamoDB: idempotent window results, and the local engine's checkpoints.

Window results are keyed by ``pk = "<job>|<group>"`` and ``sk = window_start_ms``: a replay
writes the same key with the same values (PutItem overwrites; nothing is ever added), so results
are effectively once however often a window is re-emitted. BatchWriteItem takes 25 items and is
not atomic: ``UnprocessedItems`` are retried with backoff until written or :class:`SinkError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws.retry import Backoff
from pipeline.errors import SinkError
from pipeline.records import Checkpoint
from pipeline.results import WindowResult

log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 25
SHARD_END = "SHARD_END"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attribute(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute (floats as exact decimals of their repr)."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    return _serializer.serialize(value)


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python (numbers as int or float)."""
    out = {}
    for key, attribute in item.items():
        value = _deserializer.deserialize(attribute)
        if isinstance(value, Decimal):
            value = (
                int(value)
                if value == value.to_integral_value() and "." not in str(value)
                else float(value)
            )
        out[key] = value
    return out


def result_item(result: WindowResult, shard_id: str) -> dict[str, Any]:
    group = ",".join(f"{k}={v}" for k, v in result.group)
    item = {"pk": f"{result.job}|{group}", "sk": result.window_start_ms}
    item.update(result.as_row(shard_id))
    return {key: to_attribute(value) for key, value in item.items()}


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ResultsTable:
    """Writes window results idempotently."""

    def __init__(self, client: Any, table: str, backoff: Backoff | None = None) -> None:
        self.client = client
        self.table = table
        self.backoff = backoff or Backoff()

    def write(self, results: Sequence[WindowResult], shard_id: str) -> None:
        items = [{"PutRequest": {"Item": result_item(r, shard_id)}} for r in results]
        for chunk in _chunks(items, MAX_BATCH_ITEMS):
            self._write_chunk(list(chunk))

    def _write_chunk(self, requests: list[dict[str, Any]]) -> None:
        pending = requests
        for attempt in range(1, self.backoff.max_attempts + 1):
            try:
                response = self.client.batch_write_item(RequestItems={self.table: pending})
            except (ClientError, BotoCoreError) as exc:
                log.warning(
                    "dynamodb batch write failed", extra={"table": self.table, "error": str(exc)}
                )
                self.backoff.pause(attempt)
                continue
            pending = response.get("UnprocessedItems", {}).get(self.table, [])
            if not pending:
                return
            self.backoff.pause(attempt)
        raise SinkError(f"{self.table}: {len(pending)} items unprocessed after retries")

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every item, as plain Python (for exports and tests)."""
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True):
            for item in page.get("Items", []):
                yield from_item(item)


class CheckpointTable:
    """The local engine's checkpoints, one item per application and shard.

    (The KCL engine keeps its checkpoints in the KCL's own lease table instead.)
    """

    def __init__(self, client: Any, table: str, application: str) -> None:
        self.client = client
        self.table = table
        self.application = application

    def _key(self, shard_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.application}|{shard_id}"}}

    def get(self, shard_id: str) -> Checkpoint | None:
        try:
            response = self.client.get_item(
                TableName=self.table, Key=self._key(shard_id), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise SinkError(f"{self.table}: cannot read checkpoint of {shard_id}: {exc}") from exc
        item = response.get("Item")
        if not item:
            return None
        return Checkpoint(item["sequence_number"]["S"], int(item["sub_sequence_number"]["N"]))

    def set(self, shard_id: str, checkpoint: Checkpoint) -> None:
        item = {
            **self._key(shard_id),
            "shard_id": {"S": shard_id},
            "sequence_number": {"S": checkpoint.sequence_number},
            "sub_sequence_number": {"N": str(checkpoint.sub_sequence_number)},
        }
        try:
            self.client.put_item(TableName=self.table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise SinkError(f"{self.table}: cannot write checkpoint of {shard_id}: {exc}") from exc
