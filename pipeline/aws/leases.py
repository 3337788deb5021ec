"""The KCL's lease table (DynamoDB, named after the application): reading it, and pre-seeding.

Read-only use: who holds which shard and where each shard's checkpoint is, which tells when a
bounded input (producers' end-of-stream markers) is consumed across every worker.

Pre-seeding (opt-in): on a fresh application, a KCL worker (2.x and 3.x alike) that finds the
lease table empty waits a random 1-30 s before its first shard sync. :meth:`LeaseTable.seed`
creates the table as KCL 3 does, with the ``LeaseOwnerToLeaseKeyIndex`` index its workers
discover their leases through (KCL 2 ignores it), and one lease per shard, exactly as the KCL's
shard sync would for TRIM_HORIZON (every shard, children naming their parents) or LATEST (open
shards only); it does nothing if any lease exists.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.aws.errors import aws_errors, error_code
from pipeline.aws.kinesis import ShardInfo
from pipeline.core.errors import ConfigError, ResourceMissingError

log = logging.getLogger(__name__)

#: The index KCL 3 adds to the lease table (leases by owner) if the table lacks it
OWNER_INDEX = "LeaseOwnerToLeaseKeyIndex"


@dataclass(frozen=True)
class Lease:
    shard_id: str
    owner: str | None
    checkpoint: str
    sub_sequence_number: int
    counter: int
    parents: tuple[str, ...]


class LeaseTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.resource = f"lease table {table!r}"

    def exists(self) -> bool:
        """Whether the table exists (the KCL creates it on its first start)."""
        try:
            with aws_errors("DescribeTable", self.resource):
                self.client.describe_table(TableName=self.table)
        except ResourceMissingError:
            return False
        return True

    def leases(self) -> list[Lease]:
        """Every lease (none if the table does not exist yet)."""
        leases = []
        try:
            with aws_errors("Scan", self.resource):
                pages = self.client.get_paginator("scan").paginate(
                    TableName=self.table, ConsistentRead=True
                )
                for page in pages:
                    leases += [_lease(item) for item in page.get("Items", [])]
        except ResourceMissingError:
            return []
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
            with aws_errors("PutItem", self.resource):
                try:
                    self.client.put_item(
                        TableName=self.table,
                        Item=item,
                        ConditionExpression="attribute_not_exists(leaseKey)",
                    )
                    created += 1
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":  # a worker was faster
                        raise
        log.info("lease table seeded", extra={"table": self.table, "leases": created})
        return created

    def _create_table(self) -> None:
        with aws_errors("CreateTable", self.resource):
            try:
                self.client.create_table(
                    TableName=self.table,
                    KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
                    AttributeDefinitions=[
                        {"AttributeName": "leaseKey", "AttributeType": "S"},
                        {"AttributeName": "leaseOwner", "AttributeType": "S"},
                    ],
                    GlobalSecondaryIndexes=[
                        {
                            "IndexName": OWNER_INDEX,
                            "KeySchema": [
                                {"AttributeName": "leaseOwner", "KeyType": "HASH"},
                                {"AttributeName": "leaseKey", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        }
                    ],
                    BillingMode="PAY_PER_REQUEST",
                )
            except ClientError as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise
        with aws_errors("DescribeTable", self.resource):
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
