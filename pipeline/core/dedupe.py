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

The ids live in a compiled hash table (:class:`pipeline.core._kernels.IdTable`: id -> bucket,
and each bucket's ids), walked record by record in C. The state is plain data (buckets of ids)
so that it can be snapshotted with the checkpoint and a restart continues with exactly the same
memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from pipeline.core._kernels import IdTable, column_of, first_seen


class Deduper:
    """Remembers event ids for ``horizon_ms`` of event time."""

    def __init__(self, horizon_ms: int, bucket_ms: int | None = None) -> None:
        if horizon_ms <= 0:
            raise ValueError("dedupe horizon must be positive")
        self.horizon_ms = horizon_ms
        self.bucket_ms = bucket_ms or max(1000, horizon_ms // 8)
        self._ids = IdTable()

    def __len__(self) -> int:
        return len(self._ids)

    def first_seen(
        self, ids: pa.Array | pa.ChunkedArray, times_ms: np.ndarray, newest_before: np.ndarray
    ) -> np.ndarray:
        """Mask of the records that are not duplicates, in order; remembers their ids.

        ``newest_before[i]`` is the newest event time seen before record ``i``.
        """
        keep: np.ndarray = first_seen(
            self._ids,
            column_of(ids),
            np.ascontiguousarray(times_ms, dtype=np.int64),
            np.ascontiguousarray(newest_before, dtype=np.int64),
            self.horizon_ms,
            self.bucket_ms,
        )
        return keep

    def forget_before(self, newest_event_time_ms: int) -> int:
        """Forget ids whose whole bucket is older than the horizon; returns how many."""
        limit = (newest_event_time_ms - self.horizon_ms) // self.bucket_ms
        forgotten: int = self._ids.remove_below(limit)
        return forgotten

    def to_state(self) -> dict[str, list[str]]:
        _, buckets, keys = self._ids.live()
        state: dict[str, list[str]] = {}
        for bucket, key in zip(buckets, keys, strict=True):
            state.setdefault(str(bucket), []).append(key[0])
        return state

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
        self._ids.clear()
        add = self._ids.add
        for bucket, ids in state.items():
            number = int(bucket)
            for event_id in ids:
                add((event_id,), number, True)
