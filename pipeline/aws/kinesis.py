"""Kinesis Data Streams: shard discovery, polling reads, PutRecords, and resharding.

Reads de-aggregate KPL aggregated records (:mod:`pipeline.core.kpl`), as the KCL does for its
engine (the KCL engine reads through the KCL itself). Writes are one PutRecords call at a time,
reporting which entries failed and why: what goes into a call, and what is retried when, is the
producers' planning (:mod:`producers.batching`, :mod:`producers.writer`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.aws.errors import aws_errors, error_code
from pipeline.core.errors import PipelineError
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


@dataclass(frozen=True)
class StreamSummary:
    status: str  # CREATING, ACTIVE, UPDATING, DELETING
    open_shards: int


class IteratorExpired(PipelineError):
    """A shard iterator was not used within five minutes: get a new one at the same position."""


class KinesisStream:
    """One stream: its shards, reads by polling, PutRecords calls, resharding."""

    def __init__(self, client: Any, stream: str) -> None:
        self.client = client
        self.stream = stream
        self.resource = f"Kinesis stream {stream!r}"

    def shards(self) -> list[ShardInfo]:
        """Every shard, open or closed, with its parents (ListShards, paginated)."""
        shards: list[ShardInfo] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        with aws_errors("ListShards", self.resource):
            while True:
                page = self.client.list_shards(**kwargs)
                shards.extend(_shard_info(s) for s in page.get("Shards", []))
                token = page.get("NextToken")
                if not token:
                    return shards
                kwargs = {"NextToken": token}

    def summary(self) -> StreamSummary:
        with aws_errors("DescribeStreamSummary", self.resource):
            response = self.client.describe_stream_summary(StreamName=self.stream)
        summary = response["StreamDescriptionSummary"]
        return StreamSummary(summary["StreamStatus"], summary["OpenShardCount"])

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
        with aws_errors("GetShardIterator", self.resource):
            return self.client.get_shard_iterator(**kwargs)["ShardIterator"]

    def read(self, iterator: str, limit: int) -> ReadResult:
        """The records at ``iterator``; raises :class:`IteratorExpired` for a stale iterator."""
        response = self._get_records(iterator, limit)
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

    def record_at(self, shard_id: str, sequence_number: str) -> bytes | None:
        """The data of the record at ``sequence_number`` as stored (an aggregate not unpacked)."""
        with aws_errors("GetShardIterator", self.resource):
            iterator = self.client.get_shard_iterator(
                StreamName=self.stream,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                StartingSequenceNumber=sequence_number,
            )["ShardIterator"]
        records = self._get_records(iterator, 1).get("Records", [])
        return records[0]["Data"] if records else None

    def _get_records(self, iterator: str, limit: int) -> dict[str, Any]:
        with aws_errors("GetRecords", self.resource):
            try:
                return self.client.get_records(ShardIterator=iterator, Limit=limit)
            except ClientError as exc:
                if error_code(exc) != "ExpiredIteratorException":
                    raise
                raise IteratorExpired(f"{self.resource}: {exc}") from exc

    def open_shard_hash_ranges(self) -> Iterator[tuple[str, int]]:
        """(shard id, starting hash key) of every open shard, to address each one explicitly."""
        for shard in self.shards():
            if not shard.closed:
                yield shard.shard_id, shard.starting_hash_key

    def put_records(self, entries: list[dict[str, Any]]) -> dict[int, str]:
        """One PutRecords call: the entries that were NOT stored (by index) and their ErrorCode.

        A call that fails whole (nothing stored) raises its translated error: an
        :class:`~pipeline.core.errors.AwsError` carrying the code, or ResourceMissingError.
        """
        with aws_errors("PutRecords", self.resource):
            response = self.client.put_records(StreamName=self.stream, Records=entries)
        if not response.get("FailedRecordCount"):
            return {}
        return {
            row: result["ErrorCode"]
            for row, result in enumerate(response["Records"])
            if "ErrorCode" in result
        }

    def split_shard(self, shard_id: str, new_starting_hash_key: int) -> None:
        with aws_errors("SplitShard", self.resource):
            self.client.split_shard(
                StreamName=self.stream,
                ShardToSplit=shard_id,
                NewStartingHashKey=str(new_starting_hash_key),
            )

    def merge_shards(self, shard_id: str, adjacent_shard_id: str) -> None:
        with aws_errors("MergeShards", self.resource):
            self.client.merge_shards(
                StreamName=self.stream,
                ShardToMerge=shard_id,
                AdjacentShardToMerge=adjacent_shard_id,
            )


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
