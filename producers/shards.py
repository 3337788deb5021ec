"""Where records go and how fast they may go there: the stream's shard map and per-shard budgets.

Kinesis routes a record by the MD5 of its partition key (or its explicit hash key) into the
shard whose hash-key range holds it. A shard takes 1,000 records and 1 MiB per second; the
producer keeps a token bucket per shard so that it stays within both instead of collecting
ProvisionedThroughputExceeded errors.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.aws.kinesis import ShardInfo

SHARD_RECORDS_PER_S = 1_000
SHARD_BYTES_PER_S = 1024 * 1024


def hash_key(partition_key: str) -> int:
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


class ShardMap:
    """Open shards by hash-key range."""

    def __init__(self, shards: list[ShardInfo]) -> None:
        open_shards = sorted((s for s in shards if not s.closed), key=lambda s: s.starting_hash_key)
        if not open_shards:
            raise ValueError("the stream has no open shard")
        self.shards = open_shards
        self._starts = [s.starting_hash_key for s in open_shards]

    def shard_of(self, partition_key: str, explicit_hash_key: str | None = None) -> str:
        key = int(explicit_hash_key) if explicit_hash_key is not None else hash_key(partition_key)
        return self.shards[bisect.bisect_right(self._starts, key) - 1].shard_id

    def __len__(self) -> int:
        return len(self.shards)


@dataclass
class TokenBucket:
    """``rate`` tokens per second, bursting up to one second's worth."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(default=-1.0)
    stamp: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.rate
        self.stamp = self.clock()

    def wait_time(self, amount: float) -> float:
        """Seconds to wait before ``amount`` tokens are available (0: take them now)."""
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if (
            self.tokens >= amount or self.tokens >= self.rate
        ):  # an oversize request waits for a full bucket
            self.tokens -= amount
            return 0.0
        return (min(amount, self.rate) - self.tokens) / self.rate


class ShardBudgets:
    """Per-shard record and byte buckets (with headroom), plus an optional overall rate."""

    def __init__(
        self,
        shard_map: ShardMap,
        headroom: float = 0.9,
        rate: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shard_map = shard_map
        self.sleep = sleep
        self.records = {
            s.shard_id: TokenBucket(SHARD_RECORDS_PER_S * headroom, clock) for s in shard_map.shards
        }
        self.bytes = {
            s.shard_id: TokenBucket(SHARD_BYTES_PER_S * headroom, clock) for s in shard_map.shards
        }
        self.overall = TokenBucket(rate, clock) if rate else None
        self.waited_s = 0.0

    def take(
        self, partition_key: str, explicit_hash_key: str | None, size: int, user_records: int = 1
    ) -> None:
        """Block until the record's shard (and the overall rate) can take it."""
        shard = self.shard_map.shard_of(partition_key, explicit_hash_key)
        for bucket, amount in (
            (self.records[shard], 1),
            (self.bytes[shard], size),
            (self.overall, user_records),
        ):
            if bucket is None:
                continue
            while (delay := bucket.wait_time(amount)) > 0:
                self.waited_s += delay
                self.sleep(delay)
