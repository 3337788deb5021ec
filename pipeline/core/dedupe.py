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

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import compress

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

        ``newest_before[i]`` is the newest event time seen before record ``i``. Ids seen once
        in the batch and never before (the common case) are decided in bulk; only ids already
        remembered or repeated within the batch are walked one record at a time.
        """
        n = len(ids)
        keep = np.ones(n, dtype=bool)
        buckets = times_ms // self.bucket_ms
        counts = Counter(ids)
        suspects = self._bucket_of.keys() & counts.keys()
        if len(counts) < n:
            suspects |= {event_id for event_id, count in counts.items() if count > 1}
        decided: dict[str, int] = {}
        bulk = keep
        if suspects:
            rows = np.flatnonzero(np.fromiter(map(suspects.__contains__, ids), bool, count=n))
            bulk = keep.copy()  # the first-seen records not remembered one by one below
            bulk[rows] = False
            limits = (newest_before[rows] - self.horizon_ms) // self.bucket_ms
            remembered = self._bucket_of.get
            for i, limit, bucket in zip(
                rows.tolist(), limits.tolist(), buckets[rows].tolist(), strict=True
            ):
                event_id = ids[i]
                seen = decided.get(event_id, remembered(event_id))
                if seen is not None and seen >= limit:
                    keep[i] = False
                else:
                    decided[event_id] = bucket
        self._remember(ids, buckets, bulk, decided)
        return keep

    def _remember(
        self, ids: Sequence[str], buckets: np.ndarray, bulk: np.ndarray, decided: dict[str, int]
    ) -> None:
        """Remember the ids ``decided`` one by one, then those of the ``bulk`` records."""
        bucket_of, lists = self._bucket_of, self._buckets
        for event_id, bucket in decided.items():
            stale = bucket_of.get(event_id)
            if stale is not None:  # re-seen beyond the horizon: drop the stale entry
                lists[stale].remove(event_id)
            bucket_of[event_id] = bucket
            lists.setdefault(bucket, []).append(event_id)
        for bucket in np.unique(buckets[bulk]).tolist():
            members = list(compress(ids, (bulk & (buckets == bucket)).tolist()))
            bucket_of.update(dict.fromkeys(members, bucket))
            lists.setdefault(bucket, []).extend(members)

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

    def merge(self, state: Mapping[str, Sequence[str]]) -> None:
        """Also remember the ids of another deduper's :meth:`to_state`: a child shard inherits
        its parents' memories (a duplicate may straddle a reshard). After a split and a merge of
        the split's children, both parents remember the grandparent's ids: see :meth:`load_state`.
        """
        merged = self.to_state()
        for bucket, ids in state.items():
            merged[bucket] = [*merged.get(bucket, ()), *ids]
        self.load_state(merged)

    def load_state(self, state: Mapping[str, Sequence[str]]) -> None:
        """Load remembered ids; an id listed in several buckets (merged memories) is kept once,
        in its newest bucket."""
        bucket_of: dict[str, int] = {}
        for bucket, ids in state.items():
            number = int(bucket)
            for event_id in ids:
                if bucket_of.get(event_id, number) <= number:
                    bucket_of[event_id] = number
        buckets: dict[int, list[str]] = {}
        for event_id, number in bucket_of.items():
            buckets.setdefault(number, []).append(event_id)
        self._bucket_of, self._buckets = bucket_of, buckets
