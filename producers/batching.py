"""How records are cut into PutRecords calls, so that a retry can never change an outcome.

Limits: at most 500 records and 5 MiB per call (AWS); with per-shard budgets, no shard gets
more records or bytes in one call than its budget's burst (:mod:`producers.shards`).

Order. When an entry of a PutRecords call fails, the call's other entries are stored; the failed
one is retried and lands after them. The consumer judges lateness in shard order (an event is
late when its window end plus the allowed lateness is at or behind the newest event time seen
before it on its shard), so a retry could make an on-time event late or reverse a copy and its
original. Two rules keep every label of the ground truth true whatever fails:

1. **Span.** For each record, ``top`` is the stream's event time once it is stored (the newest
   on-time event time sent so far, itself included) and ``floor`` the event time of the on-time
   event it carries (:data:`NO_FLOOR` if none: malformed, late, duplicate and control records,
   whose outcome does not depend on order). In one call, a record never follows one whose floor
   is more than the lateness behind its top: ``top[j] - floor[i] <= lateness`` for ``i < j``.
   A retried on-time event is then overtaken only by events at most ``lateness`` newer than
   itself, which cannot close its window. Chaos sends a copy only once the stream is more than
   the lateness past its original (:mod:`producers.chaos`), so a copy never shares a call with
   its original: the original is always stored first.
2. **Barrier.** A late record starts a new call when its partition key is already in the call
   (an aggregate holding one always does): everything sent before it under its key (in
   particular the key's previous record, which makes it late) is stored before it is sent.

Calls are sent one at a time, each retried until done (or given up) before the next, so records
of different calls never reorder. Records put one by one without event times (``put``) carry no
floor: only the size limits apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from producers.block import NO_TIME, Block

#: ``floor`` of a record whose outcome does not depend on its order.
NO_FLOOR = 2**62
MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5 * 1024 * 1024
_ORDER_FREE = ("late", "malformed", "duplicate_of", "control")


class StreamClock:
    """The stream's event time as records are sent: stamps ``top`` and ``floor`` on blocks."""

    def __init__(self) -> None:
        self.high = NO_TIME

    def stamp(self, block: Block) -> None:
        """Give each record of ``block`` (in send order) its ``top`` and ``floor``, in place."""
        if block.top is not None and block.floor is not None:
            if len(block):
                self.high = max(self.high, int(block.top.max()))
            return
        floor = block.ts.copy()
        for row, labels in block.labels.items():
            if any(label in labels for label in _ORDER_FREE):
                floor[row] = NO_TIME
        running = np.maximum.accumulate(np.maximum(floor, self.high)) if len(block) else floor
        block.top = running
        floor[floor == NO_TIME] = NO_FLOOR
        block.floor = floor
        if len(block):
            self.high = int(running[-1])


@dataclass(frozen=True)
class CallLimits:
    lateness_ms: int | None = None  # None: records may reorder freely
    shard_records: float | None = None  # per shard and call (its budget's burst)
    shard_bytes: float | None = None
    records: int = MAX_CALL_RECORDS
    bytes: int = MAX_CALL_BYTES


def barriers(block: Block) -> np.ndarray:
    """Rows that must start a call: late records (and aggregates holding one)."""
    return np.array(
        sorted(row for row, labels in block.labels.items() if labels.get("late")), np.int64
    )


def plan_calls(
    block: Block,
    sizes: np.ndarray,
    shards: np.ndarray | None,
    limits: CallLimits,
    final: bool,
) -> list[int]:
    """End positions of consecutive calls over ``block`` (stamped); a last call that could still
    grow is left out unless ``final``."""
    n = len(block)
    cumulative = np.concatenate([[0], np.cumsum(sizes)])
    walls = barriers(block)
    ends: list[int] = []
    start = 0
    while start < n:
        end = min(n, start + limits.records)
        end = min(
            end, int(np.searchsorted(cumulative, cumulative[start] + limits.bytes, "right")) - 1
        )
        end = _barrier_end(block, walls, start, end)
        if limits.lateness_ms is not None and block.top is not None and block.floor is not None:
            end = _span_end(block.floor[start:end], block.top[start:end], limits.lateness_ms, start)
        if shards is not None and limits.shard_bytes is not None and limits.shard_records:
            window = slice(start, end)
            end = start + _shard_fit(
                shards[window], sizes[window], limits.shard_records, limits.shard_bytes
            )
        end = max(end, start + 1)  # one record always makes a call
        if end == n and not final:
            break
        ends.append(end)
        start = end
    return ends


def _barrier_end(block: Block, walls: np.ndarray, start: int, end: int) -> int:
    """The first late record within (start, end) whose key is already in the call."""
    for wall in walls[(walls > start) & (walls < end)].tolist():
        if block.members is not None or block.keys[wall] in block.keys[start:wall]:
            return wall
    return end


def _span_end(floor: np.ndarray, top: np.ndarray, lateness_ms: int, start: int) -> int:
    """The first position whose top is more than the lateness past an earlier floor."""
    earliest = np.minimum.accumulate(floor)
    over = np.flatnonzero(top[1:] - earliest[:-1] > lateness_ms)
    return start + (int(over[0]) + 1 if len(over) else len(floor))


def _shard_fit(shards: np.ndarray, sizes: np.ndarray, records: float, volume: float) -> int:
    """How many of these records fit before a shard would get more than its burst."""
    order = np.argsort(shards, kind="stable")
    grouped = shards[order]
    starts = np.flatnonzero(np.concatenate([[True], grouped[1:] != grouped[:-1]]))
    first = np.repeat(starts, np.diff(np.concatenate([starts, [len(grouped)]])))
    count = np.arange(len(grouped)) - first + 1
    total = np.cumsum(sizes[order])
    before = np.concatenate([[0], total])[first]
    over = order[(count > records) | (total - before > volume)]
    return int(over.min()) if len(over) else len(shards)
