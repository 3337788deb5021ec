"""The KCL's lease table (DynamoDB, named after the application): progress and pre-seeding.

Read-only use: who holds which shard and where each shard's checkpoint is, which tells when a
bounded input (producers' end-of-stream markers) is consumed across every worker.

Pre-seeding (opt-in, KCL 2.x lease schema): on a fresh application, a KCL worker that finds the
lease table empty waits a random 1-30 s before its first shard sync (measured: 35-42 s to the
first record, about 9 s with leases present). :meth:`LeaseTable.seed` creates the table with one
lease per shard, exactly as the KCL's shard sync would for TRIM_HORIZON (every shard, children
naming their parents) or LATEST (open shards only), and does nothing if any lease exists.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from consumers.lifecycle import SHARD_END
from pipeline.aws.kinesis import KinesisStream, ShardInfo
from pipeline.core.errors import ConfigError
from pipeline.core.shard import END_OF_STREAM

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    shard_id: str
    owner: str | None
    checkpoint: str
    sub_sequence_number: int
    counter: int
    parents: tuple[str, ...]


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class LeaseTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def leases(self) -> list[Lease]:
        """Every lease (none if the table does not exist yet)."""
        leases = []
        try:
            pages = self.client.get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True
            )
            for page in pages:
                leases += [_lease(item) for item in page.get("Items", [])]
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return []
            raise
        return sorted(leases, key=lambda lease: lease.shard_id)

    def seed(self, shards: Sequence[ShardInfo], initial_position: str) -> int:
        """Create the table and one lease per shard if it holds none; returns leases created."""
        if initial_position not in ("TRIM_HORIZON", "LATEST"):
            raise ConfigError(
                f"consumer.initial_position: cannot pre-seed leases at {initial_position!r}"
            )
        self._create_table()
        if self.leases():
            return 0
        leased = [s for s in shards if initial_position == "TRIM_HORIZON" or not s.closed]
        ids = {shard.shard_id for shard in leased}
        created = 0
        for shard in leased:
            parents = [p for p in shard.parents if p in ids]  # children start where parents end
            item: dict[str, Any] = {
                "leaseKey": {"S": shard.shard_id},
                "leaseCounter": {"N": "0"},
                "ownerSwitchesSinceCheckpoint": {"N": "0"},
                "checkpoint": {"S": "TRIM_HORIZON" if parents else initial_position},
                "checkpointSubSequenceNumber": {"N": "0"},
                "startingHashKey": {"S": str(shard.starting_hash_key)},
                "endingHashKey": {"S": str(shard.ending_hash_key)},
            }
            if parents:
                item["parentShardId"] = {"SS": parents}
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(leaseKey)",
                )
                created += 1
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":  # a worker was faster
                    raise
        log.info("lease table seeded", extra={"table": self.table, "leases": created})
        return created

    def _create_table(self) -> None:
        try:
            self.client.create_table(
                TableName=self.table,
                KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if _code(exc) != "ResourceInUseException":
                raise
        self.client.get_waiter("table_exists").wait(TableName=self.table)


def _lease(item: dict[str, Any]) -> Lease:
    return Lease(
        shard_id=item["leaseKey"]["S"],
        owner=item.get("leaseOwner", {}).get("S"),
        checkpoint=item.get("checkpoint", {}).get("S", ""),
        sub_sequence_number=int(item.get("checkpointSubSequenceNumber", {}).get("N", "0")),
        counter=int(item.get("leaseCounter", {}).get("N", "0")),
        parents=tuple(item.get("parentShardId", {}).get("SS", ())),
    )


class EndOfStreamWatch:
    """Whether every shard is consumed to its end, according to the lease table.

    A shard is done when its checkpoint is SHARD_END, or when the record at its checkpoint is
    the producer's end-of-stream marker (the marker is a shard's last record; the processor
    checkpoints as soon as it has processed it). Works across any number of workers.
    """

    def __init__(self, stream: KinesisStream, leases: LeaseTable) -> None:
        self.stream = stream
        self.leases = leases
        self._markers: dict[tuple[str, str], bool] = {}

    def done(self) -> bool:
        by_shard = {lease.shard_id: lease for lease in self.leases.leases()}
        shards = self.stream.shards()
        if not shards:
            return False
        for shard in shards:
            lease = by_shard.get(shard.shard_id)
            if lease is None or not (
                lease.checkpoint == SHARD_END or self._at_marker(shard.shard_id, lease.checkpoint)
            ):
                return False
        return True

    def _at_marker(self, shard_id: str, checkpoint: str) -> bool:
        if not checkpoint.isdigit():  # TRIM_HORIZON, LATEST, ...
            return False
        key = (shard_id, checkpoint)
        if key not in self._markers:
            client = self.stream.client
            iterator = client.get_shard_iterator(
                StreamName=self.stream.stream,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                StartingSequenceNumber=checkpoint,
            )["ShardIterator"]
            records = client.get_records(ShardIterator=iterator, Limit=1).get("Records", [])
            self._markers[key] = bool(records) and records[0]["Data"] == END_OF_STREAM
        return self._markers[key]
