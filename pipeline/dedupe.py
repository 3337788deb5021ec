"""Dedupe by event id over a horizon of event time.

Kinesis delivers at least once and producers retry timed-out puts, so the same event can arrive
twice, seconds or minutes apart. The deduper remembers every id whose event time is within
``horizon_ms`` of the newest event time seen, and forgets older ids in whole buckets (cheap,
bounded memory: ids x horizon). The horizon must be at least the allowed lateness plus the window
size: an id forgotten earlier could belong to a window that is still open. A duplicate older than
the horizon belongs to a closed window and is reported late by the window operator, never counted.

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

    def first_seen(self, ids: Sequence[str], times_ms: np.ndarray) -> np.ndarray:
        """Mask of the ids not seen before (in order, so a repeat within ``ids`` is a duplicate).

        Records every newly seen id. ``times_ms`` are the events' times, used only to forget.
        """
        bucket_of = self._bucket_of
        buckets = self._buckets
        keep = np.zeros(len(ids), dtype=bool)
        bucket_numbers = (times_ms // self.bucket_ms).tolist()
        for i, (event_id, bucket) in enumerate(zip(ids, bucket_numbers, strict=True)):
            if event_id in bucket_of:
                continue
            keep[i] = True
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
                # an id re-seen in a newer bucket is never re-added, so it is still this bucket's
                del self._bucket_of[event_id]
                forgotten += 1
        return forgotten

    def to_state(self) -> dict[str, list[str]]:
        return {str(bucket): ids for bucket, ids in self._buckets.items()}

    def load_state(self, state: dict[str, list[str]]) -> None:
        self._buckets = {int(bucket): list(ids) for bucket, ids in state.items()}
        self._bucket_of = {i: bucket for bucket, ids in self._buckets.items() for i in ids}
