"""Dedupe by event id over a horizon of event time.

Kinesis delivers at least once and producers retry timed-out puts, so the same event can arrive
twice, seconds or minutes apart. The deduper remembers every id with the bucket of its event
time, and forgets whole buckets once they fall behind the horizon (bounded memory: ids within
``horizon_ms`` of the newest event time).

The decision for each record is a pure function of the records before it in shard order: a
record is a duplicate when its id was seen in a bucket not older than
``(newest event time before it - horizon)``. Forgetting only ever drops buckets older than that
limit, so it never changes a decision: the classification is the same for every batch split. The
horizon must be at least the allowed lateness plus the window size; a copy older than the horizon
belongs to a closed window and is reported late by the window operator, never counted.

The state is plain data (buckets of ids) so that it can be snapshotted with the checkpoint and a
restart continues with exactly the same memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Deduper:
    """Remembers event ids for ``horizon_ms`` of event time."""

    def __init__(self, horizon_ms: int, bucket_ms: int | None = None) -> None:
        if horizon_ms <= 0:
            raise ValueError("dedupe horizon must be positive")
        self.horizon_ms = horizon_ms
        self.bucket_ms = bucket_ms or max(1000, horizon_ms // 8)
        self._bucket_of: dict[str, int] = {}
        self._buckets: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return len(self._bucket_of)

    def first_seen(
        self, ids: Sequence[str], times_ms: np.ndarray, newest_before: np.ndarray
    ) -> np.ndarray:
        """Mask of the records that are not duplicates, in order; remembers their ids.

        ``newest_before[i]`` is the newest event time seen before record ``i``.
        """
        bucket_of = self._bucket_of
        buckets = self._buckets
        keep = np.zeros(len(ids), dtype=bool)
        bucket_numbers = (times_ms // self.bucket_ms).tolist()
        limits = ((newest_before - self.horizon_ms) // self.bucket_ms).tolist()
        for i, (event_id, bucket, limit) in enumerate(
            zip(ids, bucket_numbers, limits, strict=True)
        ):
            seen = bucket_of.get(event_id)
            if seen is not None and seen >= limit:
                continue
            keep[i] = True
            if seen is not None:  # remembered but beyond the horizon: forget the stale entry
                buckets[seen].remove(event_id)
            bucket_of[event_id] = bucket
            members = buckets.get(bucket)
            if members is None:
                buckets[bucket] = [event_id]
            else:
                members.append(event_id)
        return keep

    def forget_before(self, newest_event_time_ms: int) -> int:
        """Forget ids whose whole bucket is older than the horizon; returns how many."""
        limit = (newest_event_time_ms - self.horizon_ms) // self.bucket_ms
        old = [b for b in self._buckets if b < limit]
        forgotten = 0
        for bucket in old:
            for event_id in self._buckets.pop(bucket):
                del self._bucket_of[event_id]
                forgotten += 1
        return forgotten

    def to_state(self) -> dict[str, list[str]]:
        return {str(bucket): ids for bucket, ids in self._buckets.items()}

    def load_state(self, state: dict[str, list[str]]) -> None:
        self._buckets = {int(bucket): list(ids) for bucket, ids in state.items()}
        self._bucket_of = {i: bucket for bucket, ids in self._buckets.items() for i in ids}
