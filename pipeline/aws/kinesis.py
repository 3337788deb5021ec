"""Kinesis Data Streams: shard discovery and polling reads for the local engine.

Reads de-aggregate KPL aggregated records (:mod:`pipeline.core.kpl`), as the KCL does for its
engine.

(Writes live with the producers, which own batching and retries; the KCL engine reads through
the KCL itself.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.core.errors import ResourceMissingError
from pipeline.core.kpl import MAGIC, deaggregate
from pipeline.core.records import Checkpoint, RawRecord


@dataclass(frozen=True)
class ShardInfo:
    """A shard and its lineage; ``closed`` once it has an ending sequence number (resharded)."""

    shard_id: str
    parents: tuple[str, ...]
    starting_hash_key: int
    ending_hash_key: int
    closed: bool


@dataclass(frozen=True)
class ReadResult:
    records: list[RawRecord]
    next_iterator: str | None  # None: the shard is closed and fully read (SHARD_END)
    millis_behind_latest: int


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


class KinesisStream:
    """One stream, read by polling."""

    def __init__(self, client: Any, stream: str) -> None:
        self.client = client
        self.stream = stream

    def shards(self) -> list[ShardInfo]:
        """Every shard, open or closed, with its parents (ListShards, paginated)."""
        shards: list[ShardInfo] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        try:
            while True:
                page = self.client.list_shards(**kwargs)
                shards.extend(_shard_info(s) for s in page.get("Shards", []))
                token = page.get("NextToken")
                if not token:
                    return shards
                kwargs = {"NextToken": token}
        except ClientError as exc:
            if _missing(exc):
                raise ResourceMissingError(
                    f"Kinesis stream {self.stream!r} does not exist"
                ) from exc
            raise

    def iterator(self, shard_id: str, after: Checkpoint | None, initial_position: str) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard_id}
        if after is None:
            kwargs["ShardIteratorType"] = initial_position
        else:
            # sub-sequence positions inside an aggregated record are re-filtered by the caller
            kwargs["ShardIteratorType"] = (
                "AT_SEQUENCE_NUMBER" if after.sub_sequence_number else "AFTER_SEQUENCE_NUMBER"
            )
            kwargs["StartingSequenceNumber"] = after.sequence_number
        return self.client.get_shard_iterator(**kwargs)["ShardIterator"]

    def read(self, iterator: str, limit: int) -> ReadResult:
        response = self.client.get_records(ShardIterator=iterator, Limit=limit)
        records = []
        for r in response.get("Records", []):
            record = RawRecord(
                r["Data"],
                r["PartitionKey"],
                r["SequenceNumber"],
                0,
                int(r["ApproximateArrivalTimestamp"].timestamp() * 1000),
            )
            # KPL aggregates become their user records, numbered by sub-sequence number
            records += deaggregate(record) if record.data.startswith(MAGIC) else [record]
        return ReadResult(
            records, response.get("NextShardIterator"), int(response.get("MillisBehindLatest", 0))
        )

    def open_shard_hash_ranges(self) -> Iterator[tuple[str, int]]:
        """(shard id, starting hash key) of every open shard, to address each one explicitly."""
        for shard in self.shards():
            if not shard.closed:
                yield shard.shard_id, shard.starting_hash_key


def _shard_info(shard: dict[str, Any]) -> ShardInfo:
    parents = tuple(
        p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p
    )
    hash_range = shard["HashKeyRange"]
    return ShardInfo(
        shard["ShardId"],
        parents,
        int(hash_range["StartingHashKey"]),
        int(hash_range["EndingHashKey"]),
        "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}),
    )
