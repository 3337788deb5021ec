"""Kinesis fidelity patches for moto 5.2.5's ``moto.kinesis`` models.

The consumer's results depend on four things stock moto gets wrong:

* cost: every put and every GetRecords scanned the whole shard, so a test slowed down as it ran;
* resharding: moto re-put a parent's records into its children, kept routing puts to the closed
  parent and never ended it, so a consumer could neither see SHARD_END nor keep the parent's order;
* limits: PutRecord accepted records over 1 MiB (PutRecords already rejects them), and PutRecords
  stored the entries before one with a partition key over 256 characters, then failed the call
  (AWS validates the whole request first: a call that fails stores nothing);
* ListShards ignored its ``ShardFilter``: a KCL worker that finds its lease table empty lists
  the shards ``AT_TRIM_HORIZON`` (or ``AT_LATEST``) and checks that they cover the hash range
  once; given parents and children together after a reshard, it retried forever.

Each replacement below is a small function installed over one moto method by :func:`install`.
Sequence numbers stay moto's: consecutive integers per shard starting at 1, so a shard's records
dict (insertion ordered) can be indexed by sequence number instead of scanned.
"""

from __future__ import annotations

import math
import threading
import time
from base64 import b64decode
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.kinesis.exceptions import InvalidArgumentError, ResourceNotFoundError
from moto.kinesis.models import KinesisBackend, Record, Shard, Stream
from moto.kinesis.responses import KinesisResponse
from moto.kinesis.utils import (
    PAGINATION_MODEL,
    compose_new_shard_iterator,
    compose_shard_iterator,
    decompose_shard_iterator,
)
from moto.utilities.paginator import paginate
from moto.utilities.utils import md5_hash

MAX_RECORD_BYTES = 1_048_576
DEFAULT_GET_RECORDS_LIMIT = 10_000

# moto's models are not thread-safe and hypercorn runs requests on a thread pool: two puts racing
# for "max + 1" would overwrite a record, and a put racing a split could land in a closed shard.
_lock = threading.RLock()


class RecordTooLarge(JsonRESTError):
    """AWS's answer to a PutRecord whose data and partition key exceed 1 MiB."""

    def __init__(self) -> None:
        super().__init__(
            "ValidationException",
            "1 validation error detected: Value at 'data' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_RECORD_BYTES}",
        )


def _min_sequence_number(self: Shard) -> int:
    return next(iter(self.records), 0)


def _max_sequence_number(self: Shard) -> int:
    return next(reversed(self.records), 0)


def _shard_put_record(self: Shard, partition_key: str, data: str, explicit_hash_key: str) -> str:
    sequence_number = _max_sequence_number(self) + 1
    self.records[sequence_number] = Record(partition_key, data, sequence_number, explicit_hash_key)
    return str(sequence_number)


def _shard_get_records(
    self: Shard, last_sequence_id: str, limit: int | None
) -> tuple[list[Record], int, int]:
    """Records after ``last_sequence_id``: O(limit) lookups by sequence number, not a scan."""
    last = int(last_sequence_id)
    records = self.records
    if not records:
        return [], last, 0
    newest = _max_sequence_number(self)
    first = max(last + 1, _min_sequence_number(self))
    stop = min(newest, first + (limit or DEFAULT_GET_RECORDS_LIMIT) - 1)
    batch = [records[number] for number in range(first, stop + 1)]
    if not batch:
        return [], last, 0
    behind_s = records[newest].created_at - batch[-1].created_at
    return batch, batch[-1].sequence_number, int(behind_s * 1000)


def _shard_for_key(self: Stream, partition_key: str, explicit_hash_key: str) -> Shard | None:
    """Route to the OPEN shard whose inclusive hash key range holds the key, as AWS does."""
    if not isinstance(partition_key, str) or len(partition_key) > 256:
        raise InvalidArgumentError("partition_key")
    if explicit_hash_key:
        if not isinstance(explicit_hash_key, str) or int(explicit_hash_key) >= 2**128:
            raise InvalidArgumentError("explicit_hash_key")
        key = int(explicit_hash_key)
    else:
        key = int(md5_hash(partition_key.encode("utf-8")).hexdigest(), 16)
    for shard in self.shards.values():
        if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
            return shard
    return None


def _next_shard_number(stream: Stream) -> int:
    return max(shard._shard_id for shard in stream.shards.values()) + 1


def _open_shard_count(stream: Stream) -> int:
    return sum(1 for shard in stream.shards.values() if shard.is_open)


def _split_shard(self: Stream, shard_to_split: str, new_starting_hash_key: str) -> None:
    """Close the parent with its records and open two children; nothing is copied."""
    new_start = int(new_starting_hash_key)
    with _lock:
        shard = self.shards[shard_to_split]
        if not shard.starting_hash < new_start < shard.ending_hash:
            raise InvalidArgumentError(
                f"NewStartingHashKey {new_start} used in SplitShard() on shard {shard_to_split} "
                f"in stream {self.stream_name} under account {self.account_id} is not both "
                f"greater than one plus the shard's StartingHashKey {shard.starting_hash} and "
                f"less than the shard's EndingHashKey {shard.ending_hash - 1}."
            )
        if not shard.is_open:
            raise InvalidArgumentError(_not_eligible(self, shard))
        number = _next_shard_number(self)
        children = [
            Shard(number + index, start, end, parent=shard.shard_id)
            for index, (start, end) in enumerate(
                ((shard.starting_hash, new_start - 1), (new_start, shard.ending_hash))
            )
        ]
        for child in children:
            self.shards[child.shard_id] = child
        _reshard([shard], children)
        self.shard_count = _open_shard_count(self)


def _merge_shards(self: Stream, shard_to_merge: str, adjacent_shard_to_merge: str) -> None:
    """Close both parents with their records and open one child over their joint range."""
    with _lock:
        first = self.shards[shard_to_merge]
        second = self.shards[adjacent_shard_to_merge]
        for shard in (first, second):
            if not shard.is_open:
                raise InvalidArgumentError(_not_eligible(self, shard))
        low, high = sorted((first, second), key=lambda shard: shard.starting_hash)
        if low.ending_hash + 1 != high.starting_hash:
            raise InvalidArgumentError(
                f"Shards {shard_to_merge} and {adjacent_shard_to_merge} in stream "
                f"{self.stream_name} under account {self.account_id} are not an adjacent pair "
                "of shards eligible for merging"
            )
        child = Shard(
            _next_shard_number(self),
            low.starting_hash,
            high.ending_hash,
            parent=first.shard_id,
            adjacent_parent=second.shard_id,
        )
        self.shards[child.shard_id] = child
        _reshard([first, second], [child])
        self.shard_count = _open_shard_count(self)


def _reshard(parents: list[Shard], children: list[Shard]) -> None:
    """Close ``parents`` and open ``children`` now (ListShards' timestamp filters read when)."""
    now = time.time()
    for parent in parents:
        parent.is_open = False
        parent.closed_at = now
    for child in children:
        child.opened_at = now


#: ShardFilter types (ListShards) and which shards each keeps. The emulator never trims records,
#: so the trim horizon is the stream's creation: the shards open then are those without parents.
_SHARD_FILTERS = {
    "AT_TRIM_HORIZON": lambda shard, _: shard.parent is None and shard.adjacent_parent is None,
    "FROM_TRIM_HORIZON": lambda shard, _: True,
    "AT_LATEST": lambda shard, _: shard.is_open,
    "AT_TIMESTAMP": lambda shard, at: _opened_at(shard) <= at <= _closed_at(shard),
    "FROM_TIMESTAMP": lambda shard, at: at <= _closed_at(shard),
}


def _opened_at(shard: Shard) -> float:
    return getattr(shard, "opened_at", -math.inf)  # made with the stream: open since always


def _closed_at(shard: Shard) -> float:
    return math.inf if shard.is_open else getattr(shard, "closed_at", -math.inf)


def _filtered(shards: list[Shard], shard_filter: dict[str, Any]) -> list[Shard]:
    """The shards a ListShards ``ShardFilter`` selects (AWS's documented semantics)."""
    kind = shard_filter.get("Type")
    if kind == "AFTER_SHARD_ID":
        if "ShardId" not in shard_filter:
            raise InvalidArgumentError("ShardFilter AFTER_SHARD_ID needs a ShardId")
        return [shard for shard in shards if shard.shard_id > shard_filter["ShardId"]]
    if kind not in _SHARD_FILTERS:
        raise InvalidArgumentError(f"ShardFilter Type {kind!r} is not a ShardFilterType")
    at = None
    if kind.endswith("_TIMESTAMP"):
        if "Timestamp" not in shard_filter:
            raise InvalidArgumentError(f"ShardFilter {kind} needs a Timestamp")
        at = float(shard_filter["Timestamp"])
    keep = _SHARD_FILTERS[kind]
    return [shard for shard in shards if keep(shard, at)]


@paginate(pagination_model={"_list_shards": PAGINATION_MODEL["list_shards"]})
def _list_shards(
    self: KinesisBackend,
    stream_arn: str | None,
    stream_name: str | None,
    shard_filter: dict[str, Any] | None = None,
) -> list[Shard]:
    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    with _lock:
        shards = sorted(stream.shards.values(), key=lambda shard: shard.shard_id)
    return shards if shard_filter is None else _filtered(shards, shard_filter)


def _list_shards_response(self: KinesisResponse) -> ActionResult:
    shards, token = self.kinesis_backend.list_shards(
        stream_arn=self._get_param("StreamARN"),
        stream_name=self._get_param("StreamName"),
        shard_filter=self._get_param("ShardFilter"),
        limit=self._get_param("MaxResults"),  # none: the pagination model's default
        next_token=self._get_param("NextToken"),
    )
    return ActionResult({"Shards": [shard.to_json() for shard in shards], "NextToken": token})


def _not_eligible(stream: Stream, shard: Shard) -> str:
    return (
        f"Shard {shard.shard_id} in stream {stream.stream_name} under account "
        f"{stream.account_id} has already been merged or split, and thus is not eligible for "
        "merging or splitting."
    )


def _child_shards(stream: Stream, shard_id: str) -> list[dict[str, Any]]:
    """GetRecords' ``ChildShards`` at SHARD_END (the KCL creates the children's leases from it)."""
    children = []
    for shard in stream.shards.values():
        parents = [parent for parent in (shard.parent, shard.adjacent_parent) if parent]
        if shard_id in parents:
            children.append(
                {
                    "ShardId": shard.shard_id,
                    "ParentShards": parents,
                    "HashKeyRange": shard.to_json()["HashKeyRange"],
                }
            )
    return children


def _get_shard_iterator(
    self: KinesisBackend,
    stream_arn: str | None,
    stream_name: str | None,
    shard_id: str,
    shard_iterator_type: str,
    starting_sequence_number: int,
    at_timestamp: Any,
) -> str:
    """moto's, but the iterator names the stream even when the caller gave only its ARN."""
    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    if shard_id not in stream.shards:
        raise ResourceNotFoundError(
            message=f"Shard {shard_id} in stream {stream.stream_name} under account "
            f"{self.account_id} does not exist"
        )
    return compose_new_shard_iterator(
        stream.stream_name,
        stream.shards[shard_id],
        shard_iterator_type,
        starting_sequence_number,
        at_timestamp,
    )


def _backend_get_records(
    self: KinesisBackend, stream_arn: str | None, shard_iterator: str, limit: int | None
) -> tuple[str | None, list[Record], int]:
    """No next iterator once a closed shard has been read to its end (SHARD_END)."""
    stream_name, shard_id, last_sequence_id = decompose_shard_iterator(shard_iterator)
    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    shard = stream.get_shard(shard_id)
    records, last, millis_behind = shard.get_records(last_sequence_id, limit)
    if not shard.is_open and last >= _max_sequence_number(shard):
        return None, records, millis_behind
    return compose_shard_iterator(stream.stream_name, shard, last), records, millis_behind


def _get_records_response(self: KinesisResponse) -> ActionResult:
    """Omit ``NextShardIterator`` at SHARD_END and name the child shards instead."""
    stream_arn = self._get_param("StreamARN")
    shard_iterator = self._get_param("ShardIterator")
    backend = self.kinesis_backend
    next_iterator, records, millis_behind = backend.get_records(
        stream_arn, shard_iterator, self._get_param("Limit")
    )
    result: dict[str, Any] = {
        "Records": [record.to_json() for record in records],
        "MillisBehindLatest": millis_behind,
    }
    if next_iterator is None:
        stream_name, shard_id, _ = decompose_shard_iterator(shard_iterator)
        stream = backend.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        result["ChildShards"] = _child_shards(stream, shard_id)
    else:
        result["NextShardIterator"] = next_iterator
    return ActionResult(result)


def _locked(method: Any) -> Any:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    locked.__doc__ = method.__doc__
    return locked


def _size_checked_put_record(method: Any) -> Any:
    def put_record(
        self: KinesisBackend,
        stream_arn: str,
        stream_name: str,
        partition_key: str,
        explicit_hash_key: str,
        data: str,
    ) -> tuple[str, str]:
        if len(b64decode(data)) + len(partition_key or "") > MAX_RECORD_BYTES:
            raise RecordTooLarge()
        return method(self, stream_arn, stream_name, partition_key, explicit_hash_key, data)

    return put_record


class InvalidEntry(JsonRESTError):
    """AWS's answer to a PutRecords entry that breaks the API's constraints (nothing is stored)."""

    def __init__(self, value: Any, position: str, constraint: str) -> None:
        super().__init__(
            "ValidationException",
            f"1 validation error detected: Value '{value}' at '{position}' failed to satisfy "
            f"constraint: {constraint}",
        )


def _validate_entry(index: int, record: dict[str, Any]) -> None:
    key = record.get("PartitionKey")
    where = f"records.{index}.member"
    if not isinstance(key, str) or not 1 <= len(key) <= 256:
        raise InvalidEntry(
            key, f"{where}.partitionKey", "Member must have length between 1 and 256"
        )
    explicit = record.get("ExplicitHashKey")
    if explicit is not None and not (
        isinstance(explicit, str) and explicit.isdigit() and int(explicit) < 2**128
    ):
        raise InvalidEntry(
            explicit,
            f"{where}.explicitHashKey",
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
        )


def _validated_put_records(method: Any) -> Any:
    def put_records(
        self: KinesisBackend, stream_arn: str, stream_name: str, records: list[dict[str, Any]]
    ) -> dict[str, Any]:
        for index, record in enumerate(records, start=1):
            _validate_entry(index, record)
        return method(self, stream_arn, stream_name, records)

    return put_records


def install() -> None:
    """Install the patches over moto's classes (once, via ``install_patches``)."""
    Shard.get_min_sequence_number = _min_sequence_number
    Shard.get_max_sequence_number = _max_sequence_number
    Shard.put_record = _shard_put_record
    Shard.get_records = _shard_get_records
    Stream.get_shard_for_key = _shard_for_key
    Stream.put_record = _locked(Stream.put_record)
    Stream.split_shard = _split_shard
    Stream.merge_shards = _merge_shards
    Stream.update_shard_count = _locked(Stream.update_shard_count)
    KinesisBackend.put_record = _size_checked_put_record(KinesisBackend.put_record)
    KinesisBackend.put_records = _validated_put_records(KinesisBackend.put_records)
    KinesisBackend.get_shard_iterator = _get_shard_iterator
    KinesisBackend.get_records = _backend_get_records
    KinesisResponse.get_records = _get_records_response
    KinesisBackend.list_shards = _list_shards
    KinesisResponse.list_shards = _list_shards_response
