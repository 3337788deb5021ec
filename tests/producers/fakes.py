"""An in-memory Kinesis stream with seeded faults, on a simulated clock (pure: no emulator)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from producers.shards import hash_key

HASH_SPACE = 2**128


@dataclass
class SimClock:
    """Time that passes only when someone sleeps."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Stored:
    data: bytes
    partition_key: str
    at: float  # simulated time of the call that stored it


@dataclass
class FakeKinesis:
    """PutRecords routes each entry by hash key into its shard, storing in entry order; a
    seeded share of calls is throttled (nothing stored) and of entries fails (not stored)."""

    shards: int
    clock: SimClock = field(default_factory=SimClock)
    entry_failures: float = 0.0
    throttles: float = 0.0
    seed: int = 0
    stored: dict[str, list[Stored]] = field(default_factory=dict)
    failed_entries: int = 0
    throttled_calls: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        width = HASH_SPACE // self.shards
        self.ranges = [
            (
                f"shardId-{i:012d}",
                i * width,
                HASH_SPACE - 1 if i == self.shards - 1 else (i + 1) * width - 1,
            )
            for i in range(self.shards)
        ]
        self.stored = {shard: [] for shard, _, _ in self.ranges}

    def list_shards(self, **_: Any) -> dict[str, Any]:
        return {
            "Shards": [
                {
                    "ShardId": shard,
                    "HashKeyRange": {"StartingHashKey": str(low), "EndingHashKey": str(high)},
                    "SequenceNumberRange": {"StartingSequenceNumber": "0"},
                }
                for shard, low, high in self.ranges
            ]
        }

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        if self.rng.random() < self.throttles:
            self.throttled_calls += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                "PutRecords",
            )
        results = []
        for entry in Records:
            if self.rng.random() < self.entry_failures:
                self.failed_entries += 1
                results.append({"ErrorCode": "ProvisionedThroughputExceededException"})
                continue
            explicit = entry.get("ExplicitHashKey")
            key = int(explicit) if explicit is not None else hash_key(entry["PartitionKey"])
            shard = next(s for s, low, high in self.ranges if low <= key <= high)
            self.stored[shard].append(Stored(entry["Data"], entry["PartitionKey"], self.clock()))
            results.append({"ShardId": shard, "SequenceNumber": str(len(self.stored[shard]))})
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedRecordCount": failed, "Records": results}
