"""Where records go and how fast they may go there: the stream's shard map and per-shard budgets.

Kinesis routes a record by the MD5 of its partition key (or its explicit hash key) into the
shard whose hash-key range holds it. A shard takes 1,000 records and 1 MiB per second; the
producer keeps two token buckets per shard so that it stays within both instead of collecting
ProvisionedThroughputExceeded errors. A bucket refilling at ``rate`` and holding ``burst`` lets
through at most ``burst + rate * T`` in any interval ``T``: with 85% of the limit as rate and
15% as burst, no one-second interval ever exceeds the limit. Budgets are taken a PutRecords call
at a time, and a call never carries more for one shard than its burst.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.aws.kinesis import ShardInfo

SHARD_RECORDS_PER_S = 1_000
SHARD_BYTES_PER_S = 1024 * 1024
#: The buckets' rate, as a share of a shard's limits; the rest of the limit is the burst.
RATE_SHARE = 0.85


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
        self._by_key: dict[str, int] = {}

    def index(self, partition_key: str, explicit_hash_key: str | None = None) -> int:
        """Position in :attr:`shards` of the shard that takes this record."""
        key = int(explicit_hash_key) if explicit_hash_key is not None else hash_key(partition_key)
        return bisect.bisect_right(self._starts, key) - 1

    def shard_of(self, partition_key: str, explicit_hash_key: str | None = None) -> str:
        return self.shards[self.index(partition_key, explicit_hash_key)].shard_id

    def indices(self, keys: Sequence[str], hash_keys: Sequence[str | None] | None) -> np.ndarray:
        """:meth:`index` of many records (partition keys are hashed once each)."""
        by_key = self._by_key
        for key in set(keys).difference(by_key):
            by_key[key] = self.index(key)
        out = np.fromiter(map(by_key.__getitem__, keys), np.intp, len(keys))
        if hash_keys is not None:
            for row, explicit in enumerate(hash_keys):
                if explicit is not None:
                    out[row] = self.index("", explicit)
        return out

    def __len__(self) -> int:
        return len(self.shards)


@dataclass
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst`` (default: one second's worth)."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    burst: float = 0.0
    tokens: float = field(default=-1.0)
    stamp: float = 0.0

    def __post_init__(self) -> None:
        self.burst = self.burst or self.rate
        self.tokens = self.burst
        self.stamp = self.clock()

    def wait_time(self, amount: float) -> float:
        """Seconds to wait before ``amount`` tokens are available (0: available now).

        A request larger than the burst waits for a full bucket and leaves it in debt, so the
        bound ``burst + rate * T`` holds for any interval all the same."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        needed = min(amount, self.burst)
        if self.tokens >= needed - 1e-9 * self.burst:  # not stuck on a rounding error
            return 0.0
        return float(needed - self.tokens) / self.rate

    def spend(self, amount: float) -> None:
        self.tokens -= amount


class ShardBudgets:
    """Per-shard record and byte buckets, plus an optional overall rate (user records/s)."""

    def __init__(
        self,
        shard_map: ShardMap,
        rate: float | None = None,
        per_shard: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shard_map = shard_map
        self.sleep = sleep
        self.clock = clock
        burst = 1.0 - RATE_SHARE
        # per shard and call, at most (None: no per-shard budgets)
        self.shard_records = SHARD_RECORDS_PER_S * burst if per_shard else None
        self.shard_bytes = SHARD_BYTES_PER_S * burst if per_shard else None
        shards = shard_map.shards if per_shard else []
        self.records = [
            TokenBucket(SHARD_RECORDS_PER_S * RATE_SHARE, clock, SHARD_RECORDS_PER_S * burst)
            for _ in shards
        ]
        self.bytes = [
            TokenBucket(SHARD_BYTES_PER_S * RATE_SHARE, clock, SHARD_BYTES_PER_S * burst)
            for _ in shards
        ]
        self.overall = TokenBucket(rate, clock) if rate else None
        self.waited_s = 0.0

    def take(self, shards: np.ndarray | None, sizes: np.ndarray, user_records: int) -> None:
        """Block until every shard of a call (and the overall rate) can take its records, then
        take them all at once: the call is sent at the instant its budget is spent."""
        wanted: list[tuple[TokenBucket, float]] = []
        if self.overall is not None:
            wanted.append((self.overall, user_records))
        if self.records and shards is not None:
            counts = np.bincount(shards, minlength=len(self.records))
            volumes = np.bincount(shards, weights=sizes, minlength=len(self.records))
            used = counts > 0
            for shard, count, volume in zip(
                np.flatnonzero(used).tolist(),
                counts[used].tolist(),
                volumes[used].tolist(),
                strict=True,
            ):
                wanted += [(self.records[shard], count), (self.bytes[shard], volume)]
        began = self.clock()
        while (delay := max((b.wait_time(amount) for b, amount in wanted), default=0.0)) > 0:
            self.sleep(delay)
        self.waited_s += self.clock() - began
        for bucket, amount in wanted:
            bucket.spend(amount)
