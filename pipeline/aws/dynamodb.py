"""DynamoDB: window results merged idempotently across shards, and the local engine's checkpoints.

One item per job, group and window: ``pk = "<job>|<group>"``, ``sk = window_start_ms``. A window
can have parts from several shards (a group spread over shards, or a shard split mid-window);
each part is the shard's mergeable state (``parts[<shard>]``), and the item's metrics are the
merge of all parts. Writes are idempotent: a replay finds its part already there and changes
nothing; a new part is merged with optimistic concurrency (``version``), so concurrent shards
never lose each other's parts.

The common case (a window's first part) costs one conditional Put inside a TransactWriteItems of
up to 100 items; an existing item costs a GetItem and a conditional PutItem.

Each write sets ``expires_at`` (epoch seconds, as DynamoDB's TTL reads it) to its time plus the
retention (``results.retention``): the table's TTL deletes results no one reads any more, and
storage stays at about one retention's worth (what ``pipeline plan`` bills).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn

import msgspec
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws.errors import (
    aws_errors,
    error_code,
    raise_sink_error,
    retryable,
    sink_errors,
    translate,
)
from pipeline.aws.retry import Backoff
from pipeline.core.errors import SinkError
from pipeline.core.records import Checkpoint
from pipeline.core.results import WindowResult
from pipeline.core.windows.operator import finish, merge_states
from pipeline.core.windows.spec import WindowJob

log = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = 100
#: The TTL attribute (the table's TimeToLiveSpecification names it)
EXPIRES_AT = "expires_at"
#: Attributes of an item that are not part of its row
_ITEM_ONLY = ("pk", "sk", "parts", EXPIRES_AT)
_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}

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


def encode_states(states: Sequence[Any]) -> bytes:
    return msgspec.msgpack.encode(list(states))


def decode_states(blob: bytes) -> list[Any]:
    return msgspec.msgpack.decode(blob)


def _group_key(result: WindowResult) -> str:
    return ",".join(f"{k}={v}" for k, v in result.group)


def _key(result: WindowResult) -> dict[str, Any]:
    return {
        "pk": {"S": f"{result.job}|{_group_key(result)}"},
        "sk": {"N": str(result.window_start_ms)},
    }


def merged_row(
    result: WindowResult, metrics: Sequence[tuple[str, Any]], parts: dict[str, bytes], version: int
) -> dict[str, Any]:
    """The plain row of a merged window (what the item holds and the lake receives)."""
    row: dict[str, Any] = {
        "result_id": result.result_id,
        "job": result.job,
        "window_start_ms": result.window_start_ms,
        "window_end_ms": result.window_end_ms,
    }
    row.update(result.group)
    row.update(metrics)
    row["shards"] = ",".join(sorted(parts))
    row["version"] = version
    return row


def _item(
    row: dict[str, Any], key: dict[str, Any], parts: dict[str, bytes], expires_at: int | None
) -> dict[str, Any]:
    item = {name: to_attribute(value) for name, value in row.items()}
    item.update(key)
    item["parts"] = {"M": {shard: {"B": blob} for shard, blob in parts.items()}}
    if expires_at is not None:
        item[EXPIRES_AT] = {"N": str(expires_at)}
    return item


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ResultsTable:
    """Writes window results, merging parts from several shards idempotently; each write keeps
    the item ``retention_s`` more seconds (None: no ``expires_at``, kept until deleted)."""

    def __init__(
        self,
        client: Any,
        table: str,
        jobs: Sequence[WindowJob] = (),
        backoff: Backoff | None = None,
        retention_s: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.table = table
        self.resource = f"DynamoDB table {table!r}"
        self.jobs = {job.name: job for job in jobs}
        self.backoff = backoff or Backoff()
        self.retention_s = retention_s
        self.clock = clock

    def _expires_at(self) -> int | None:
        if self.retention_s is None:
            return None
        return int(self.clock()) + self.retention_s

    def write(self, results: Sequence[WindowResult], shard_id: str) -> list[dict[str, Any]]:
        """Merge each result (``shard_id``'s part) into its item; returns the merged rows."""
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(results, MAX_TRANSACTION_ITEMS):
            rows += self._write_new(list(chunk), shard_id)
        return rows

    def _write_new(self, results: list[WindowResult], shard_id: str) -> list[dict[str, Any]]:
        """Fast path: each item created by this part, all or nothing; existing ones merged."""
        pending = results
        rows: list[dict[str, Any]] = []
        for attempt in range(1, self.backoff.max_attempts + 1):
            expires_at = self._expires_at()
            prepared = []
            for result in pending:
                parts = {shard_id: encode_states(result.states)}
                row = merged_row(result, result.metrics, parts, 1)
                prepared.append((result, row, _item(row, _key(result), parts, expires_at)))
            try:
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": item,
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        }
                        for _, _, item in prepared
                    ]
                )
                return rows + [row for _, row, _ in prepared]
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    if not _retryable(exc):
                        self._fail("cannot write window results", exc)
                    self.backoff.pause(attempt)
                    continue
                reasons = exc.response.get("CancellationReasons") or []
                exists = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
                if len(exists) != len(prepared):
                    self._fail("transaction cancelled without reasons", exc)
                for (result, _, _), found in zip(prepared, exists, strict=True):
                    if found:
                        rows.append(self._merge(result, shard_id))
                pending = [
                    r for (r, _, _), found in zip(prepared, exists, strict=True) if not found
                ]
                if not pending:
                    return rows
            except BotoCoreError as exc:
                self._unless_retryable("cannot write window results", exc, "TransactWriteItems")
                log.warning(
                    "dynamodb transaction failed", extra={"table": self.table, "error": str(exc)}
                )
                self.backoff.pause(attempt)
        raise SinkError(f"{self.table}: {len(pending)} results not written after retries")

    def _merge(self, result: WindowResult, shard_id: str) -> dict[str, Any]:
        """Slow path: merge this part into an existing item (optimistic concurrency)."""
        job = self.jobs[result.job]
        mine = encode_states(result.states)
        key = _key(result)
        for attempt in range(1, self.backoff.max_attempts + 1):
            try:
                item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get(
                    "Item"
                )
                if item is None:  # deleted meanwhile: create it
                    parts = {shard_id: mine}
                    row = merged_row(result, result.metrics, parts, 1)
                    condition = "attribute_not_exists(pk)"
                    values = None
                else:
                    parts = {shard: value["B"] for shard, value in item["parts"]["M"].items()}
                    version = int(item["version"]["N"])
                    if parts.get(shard_id) == mine:  # a replay: this part is already merged
                        return from_item({k: v for k, v in item.items() if k not in _ITEM_ONLY})
                    parts[shard_id] = mine
                    states = None
                    for blob in parts.values():
                        decoded = decode_states(blob)
                        states = decoded if states is None else merge_states(job, states, decoded)
                    row = merged_row(result, finish(job, states), parts, version + 1)
                    condition = "version = :seen"
                    values = {":seen": {"N": str(version)}}
                kwargs: dict[str, Any] = {
                    "TableName": self.table,
                    "Item": _item(row, key, parts, self._expires_at()),
                    "ConditionExpression": condition,
                }
                if values:
                    kwargs["ExpressionAttributeValues"] = values
                self.client.put_item(**kwargs)
                return row
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException" and not _retryable(exc):
                    self._fail(f"cannot merge {result.result_id}", exc)
                self.backoff.pause(attempt)  # another shard merged first: read again
            except BotoCoreError as exc:
                self._unless_retryable(f"cannot merge {result.result_id}", exc, "PutItem")
                log.warning("dynamodb merge failed", extra={"table": self.table, "error": str(exc)})
                self.backoff.pause(attempt)
        raise SinkError(f"{self.table}: could not merge {result.result_id} after retries")

    def _fail(self, what: str, exc: ClientError) -> NoReturn:
        raise_sink_error(what, exc, exc.operation_name, self.resource)

    def _unless_retryable(self, what: str, exc: BotoCoreError, operation: str) -> None:
        """Fail at once on what a retry cannot fix (no credentials, no endpoint)."""
        if not retryable(translate(exc, operation, self.resource)):
            raise_sink_error(what, exc, operation, self.resource)

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every item as plain Python, without the binary parts and the expiry (for exports,
        alerts and tests: the same results, whenever they were written)."""
        with aws_errors("Scan", self.resource):
            paginator = self.client.get_paginator("scan")
            for page in paginator.paginate(TableName=self.table, ConsistentRead=True):
                for item in page.get("Items", []):
                    yield from_item(
                        {k: v for k, v in item.items() if k not in ("parts", EXPIRES_AT)}
                    )

    def probe(self) -> None:
        """Read an item that cannot exist (GetItem, the read the consumer makes): the table
        exists, has the results' key schema, and these credentials may read it."""
        with aws_errors("GetItem", self.resource):
            self.client.get_item(
                TableName=self.table, Key={"pk": {"S": "#probe"}, "sk": {"N": "0"}}
            )


def _retryable(exc: ClientError) -> bool:
    return error_code(exc) in _RETRYABLE


class CheckpointTable:
    """The local engine's checkpoints, one item per application and shard.

    (The KCL engine keeps its checkpoints in the KCL's own lease table instead.)
    """

    def __init__(self, client: Any, table: str, application: str) -> None:
        self.client = client
        self.table = table
        self.resource = f"DynamoDB table {table!r}"
        self.application = application

    def _key(self, shard_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.application}|{shard_id}"}}

    def get(self, shard_id: str) -> Checkpoint | None:
        with sink_errors(f"cannot read checkpoint of {shard_id}", "GetItem", self.resource):
            response = self.client.get_item(
                TableName=self.table, Key=self._key(shard_id), ConsistentRead=True
            )
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
        with sink_errors(f"cannot write checkpoint of {shard_id}", "PutItem", self.resource):
            self.client.put_item(TableName=self.table, Item=item)


@dataclass(frozen=True)
class ShardProgress:
    """How far one shard's results are final (see :class:`pipeline.core.sinks.ProgressStore`)."""

    shard_id: str
    newest_event_time_ms: int
    ended: bool
    parents: tuple[str, ...]


class ProgressTable:
    """Each shard's progress in the state table, one item per application and shard
    (``pk = "progress|<application>|<shard>"``): written by the record processors of both
    engines, read by the alert evaluator to know which windows are complete."""

    def __init__(self, client: Any, table: str, application: str) -> None:
        self.client = client
        self.table = table
        self.prefix = f"progress|{application}|"
        self.resource = f"DynamoDB table {table!r}"

    def record(
        self, shard_id: str, newest_event_time_ms: int, ended: bool, parents: tuple[str, ...]
    ) -> None:
        item = {
            "pk": {"S": self.prefix + shard_id},
            "shard_id": {"S": shard_id},
            "newest_event_time_ms": {"N": str(newest_event_time_ms)},
            "ended": {"BOOL": ended},
            "parents": {"L": [{"S": p} for p in parents]},
        }
        with sink_errors(f"cannot record the progress of {shard_id}", "PutItem", self.resource):
            self.client.put_item(TableName=self.table, Item=item)

    def read(self) -> dict[str, ShardProgress]:
        """Every shard's progress, by shard."""
        out = {}
        with aws_errors("Scan", self.resource):
            pages = self.client.get_paginator("scan").paginate(
                TableName=self.table,
                ConsistentRead=True,
                FilterExpression="begins_with(pk, :prefix)",
                ExpressionAttributeValues={":prefix": {"S": self.prefix}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    shard = item["shard_id"]["S"]
                    out[shard] = ShardProgress(
                        shard,
                        int(item["newest_event_time_ms"]["N"]),
                        item["ended"]["BOOL"],
                        tuple(p["S"] for p in item["parents"]["L"]),
                    )
        return out


class AlertMarks:
    """Alert claims in the state table, one item per alert (``pk = "alert|<alert id>"``), for
    publishing each alert once (the protocol is :mod:`pipeline.alerts.deliver`'s). A claim
    carries ``expires_at``, ``keep_s`` after it was made (None: kept until deleted), for the
    table's TTL: the state table's other items have none and stay."""

    PREFIX = "alert|"

    def __init__(self, client: Any, table: str, keep_s: int | None = None) -> None:
        self.client = client
        self.table = table
        self.keep_s = keep_s

    def _key(self, alert_id: str) -> dict[str, Any]:
        return {"pk": {"S": self.PREFIX + alert_id}}

    def _resource(self, alert_id: str) -> str:
        return f"the mark of alert {alert_id!r} in DynamoDB table {self.table!r}"

    def claim(self, alert_id: str, now: float, stale_before: float) -> bool:
        """Claim the alert if it was never claimed, or its claim is still pending from before
        ``stale_before`` (an evaluator that died before publishing); False if it is taken."""
        with aws_errors("PutItem", self._resource(alert_id)):
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={
                        **self._key(alert_id),
                        "status": {"S": "pending"},
                        "claimed_at": {"N": repr(now)},
                        **(
                            {EXPIRES_AT: {"N": str(int(now) + self.keep_s)}}
                            if self.keep_s is not None
                            else {}
                        ),
                    },
                    ConditionExpression=(
                        "attribute_not_exists(pk) OR (#s = :pending AND claimed_at < :stale)"
                    ),
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":pending": {"S": "pending"},
                        ":stale": {"N": repr(stale_before)},
                    },
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def release(self, alert_id: str) -> None:
        """Drop a pending claim (one already marked sent stays: the condition fails)."""
        with aws_errors("DeleteItem", self._resource(alert_id)):
            self.client.delete_item(
                TableName=self.table,
                Key=self._key(alert_id),
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":pending": {"S": "pending"}},
            )

    def mark_sent(self, alert_id: str, now: float) -> None:
        with aws_errors("UpdateItem", self._resource(alert_id)):
            self.client.update_item(
                TableName=self.table,
                Key=self._key(alert_id),
                UpdateExpression="SET #s = :sent, sent_at = :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":sent": {"S": "sent"}, ":now": {"N": repr(now)}},
            )
