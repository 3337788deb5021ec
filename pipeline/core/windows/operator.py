"""The tumbling-window operator of one job on one shard.

Semantics (also in the README):

* Windows are half-open ``[start, end)`` of ``size_ms``, aligned to the epoch, in UTC event time.
* The watermark is the newest event time seen on the shard minus the job's allowed lateness. A
  window closes when the watermark reaches its end (``end <= watermark``); a closed window is
  emitted once, final.
* An event is *late* when its window had closed on its arrival, that is when
  ``end <= (newest event time of the records before it) - lateness``. This is decided per record
  in shard order, so it does not depend on how records were split into batches.

A batch is folded with one Arrow hash aggregation, then array operations on the open windows'
numeric state (see :class:`WindowOperator`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.events.decode import EVENT_TIME
from pipeline.core.results import WindowResult
from pipeline.core.windows.numeric import VECTORISED, NumericMetric
from pipeline.core.windows.spec import MetricSpec, WindowJob

WINDOW_START = "window_start_ms"

#: A group is the tuple of its group-by values; a job without group-by has the one group ().
GroupKey = tuple[Any, ...]


class WindowOperator:
    """Open windows of one job, one *slot* per window and group.

    Numeric metrics live in numpy arrays indexed by slot and fold a batch with a few array
    operations; other metrics (distinct sets, sketches, first/last) keep a plain state per slot.
    """

    def __init__(self, job: WindowJob) -> None:
        self.job = job
        self._slot_of: dict[tuple[Any, ...], int] = {}  # (start, *group key) -> slot
        self._slots_of_start: dict[int, list[int]] = {}
        self._key_of: list[Any] = []  # slot -> (start, *group key), None while free
        self._free: list[int] = []
        self._aggregations: list[tuple[Any, str]] = []
        self._derived: list[tuple[str, MetricSpec]] = []  # filtered metrics' input columns
        self._numeric: dict[int, NumericMetric] = {}
        self._plain: dict[int, list[Any]] = {}  # metric index -> state per slot
        self._widths: list[int] = []
        schema = job.etype.arrow_schema
        for i, metric in enumerate(job.metrics):
            column = metric.field
            if metric.condition is not None:
                column = f"__metric_{i}"
                self._derived.append((column, metric))
            if metric.function.name in VECTORISED:
                integer = metric.field is not None and pa.types.is_integer(
                    schema.field(metric.field).type
                )
                self._numeric[i] = NumericMetric(metric, column, integer)
                aggregations = self._numeric[i].aggregations
            else:
                self._plain[i] = []
                # every function that is not vectorised reads a field: column is a str
                aggregations = list(metric.function.arrow_aggregations(column))  # type: ignore[arg-type]
            self._aggregations += aggregations
            self._widths.append(len(aggregations))

    @property
    def open_windows(self) -> int:
        return len(self._slots_of_start)

    @property
    def open_groups(self) -> int:
        return len(self._slot_of)

    def add(self, events: pa.Table, newest_before: np.ndarray) -> np.ndarray:
        """Fold ``events`` into their windows; return the mask of late events (not folded).

        ``newest_before[i]`` is the newest event time seen on the shard before event ``i``.
        """
        size = self.job.size_ms
        times = events.column(EVENT_TIME).to_numpy()
        starts = times - times % size
        late = starts + size <= newest_before - self.job.lateness_ms
        on_time = events if not late.any() else events.filter(pa.array(~late))
        if on_time.num_rows:
            on_time_starts = starts if on_time is events else starts[~late]
            self._fold(on_time.append_column(WINDOW_START, pa.array(on_time_starts)))
        return late

    def _fold(self, events: pa.Table) -> None:
        for column, metric in self._derived:
            mask = metric.condition.mask(events)  # type: ignore[union-attr]  # filtered: has one
            source = (
                events.column(metric.field) if metric.field else pa.repeat(True, events.num_rows)
            )
            events = events.append_column(column, pc.if_else(mask, source, None))
        for numeric in self._numeric.values():
            events = numeric.derive(events)
        keys = [WINDOW_START, *self.job.group_by]
        partials = events.group_by(keys, use_threads=False).aggregate(self._aggregations)
        names = partials.column_names
        # Arrow has put the keys first (pyarrow >= 22) and last (older): accept either
        first_aggregate = len(keys) if names[: len(keys)] == keys else 0
        key_columns = [partials.column(name).to_pylist() for name in keys]
        slots = self._slots(list(zip(*key_columns, strict=True)))
        position = first_aggregate
        for i, width in enumerate(self._widths):
            outputs = [partials.column(position + j) for j in range(width)]
            position += width
            if i in self._numeric:
                self._numeric[i].fold(slots, outputs)
            else:
                self._fold_plain(i, slots, [o.to_pylist() for o in outputs])
        for numeric in self._numeric.values():
            numeric.fold_rare(lambda row: self._slot_of[_row_key(events, keys, row)])

    def _fold_plain(self, metric: int, slots: np.ndarray, outputs: list[list[Any]]) -> None:
        function = self.job.metrics[metric].function
        states = self._plain[metric]
        for row, slot in enumerate(slots.tolist()):
            partial = function.partial([o[row] for o in outputs])
            states[slot] = function.merge(states[slot], partial)

    def _slots(self, keys: list[tuple[Any, ...]]) -> np.ndarray:
        """The slot of each (start, *group) key, allocating slots for new windows and groups."""
        slot_of = self._slot_of
        get = slot_of.get
        slots = [get(key, -1) for key in keys]
        for row, slot in enumerate(slots):
            if slot < 0:
                slots[row] = self._allocate(keys[row])
        return np.asarray(slots, dtype=np.int64)

    def _allocate(self, key: tuple[Any, ...]) -> int:
        if not self._free:
            self._grow(max(64, 2 * len(self._key_of)))
        slot = self._free.pop()
        self._slot_of[key] = slot
        self._key_of[slot] = key
        self._slots_of_start.setdefault(key[0], []).append(slot)
        return slot

    def _grow(self, capacity: int) -> None:
        old = len(self._key_of)
        for numeric in self._numeric.values():
            numeric.grow(capacity)
        for states in self._plain.values():
            states.extend([None] * (capacity - old))
        self._key_of.extend([None] * (capacity - old))
        self._free.extend(range(capacity - 1, old - 1, -1))

    def close(self, newest_event_time_ms: int) -> list[WindowResult]:
        """Emit and forget every window whose end the watermark has reached."""
        watermark = newest_event_time_ms - self.job.lateness_ms
        size = self.job.size_ms
        return self._emit(sorted(s for s in self._slots_of_start if s + size <= watermark))

    def close_all(self) -> list[WindowResult]:
        """End of input: emit every open window."""
        return self._emit(sorted(self._slots_of_start))

    def _emit(self, starts: list[int]) -> list[WindowResult]:
        if not starts:
            return []
        job = self.job
        ordered: list[int] = []
        key_of = self._key_of
        for start in starts:
            window = self._slots_of_start.pop(start)
            try:
                window.sort(key=key_of.__getitem__)
            except TypeError:  # None among group values: nulls last
                window.sort(key=lambda slot: _sort_key(key_of[slot][1:]))
            ordered += window
        slots = np.asarray(ordered, dtype=np.int64)
        columns = [self._states(i, slots) for i in range(len(job.metrics))]
        values = [
            self._numeric[i].values(slots, column)
            if i in self._numeric
            else list(map(metric.function.finish, column))
            for i, (metric, column) in enumerate(zip(job.metrics, columns, strict=True))
        ]
        names = [m.name for m in job.metrics]
        group_by = job.group_by
        name, size = job.name, job.size_ms
        keys = [self._key_of[slot] for slot in ordered]
        rows = zip(keys, zip(*values, strict=True), zip(*columns, strict=True), strict=True)
        results = [
            WindowResult(
                name,
                key[0],
                key[0] + size,
                tuple(zip(group_by, key[1:], strict=True)),
                tuple(zip(names, row, strict=True)),
                states,
            )
            for key, row, states in rows
        ]
        for key, slot in zip(keys, ordered, strict=True):
            del self._slot_of[key]
            self._key_of[slot] = None
        for numeric in self._numeric.values():
            numeric.reset(slots)
        for states in self._plain.values():
            for slot in ordered:
                states[slot] = None
        self._free.extend(ordered)
        return results

    def _states(self, metric: int, slots: np.ndarray) -> list[Any]:
        if metric in self._numeric:
            return self._numeric[metric].states(slots)
        states = self._plain[metric]
        return [states[slot] for slot in slots.tolist()]

    def to_state(self) -> list[list[Any]]:
        """Open windows as ``[start, group key, [state per metric]]`` (plain data)."""
        slots = np.asarray(list(self._slot_of.values()), dtype=np.int64)
        columns = [self._states(i, slots) for i in range(len(self.job.metrics))]
        return [
            [key[0], list(key[1:]), [column[row] for column in columns]]
            for row, key in enumerate(self._slot_of)
        ]

    def load_state(self, state: list[list[Any]]) -> None:
        self.__init__(self.job)  # type: ignore[misc]
        for start, key, values in state:
            slot = self._allocate((int(start), *key))
            for i, value in enumerate(values):
                if i in self._numeric:
                    self._numeric[i].load(slot, value)
                else:
                    self._plain[i][slot] = value


def finish(job: WindowJob, states: Sequence[Any]) -> tuple[tuple[str, Any], ...]:
    """Metric values from the metrics' merged states."""
    return tuple(
        (metric.name, metric.function.finish(state))
        for metric, state in zip(job.metrics, states, strict=True)
    )


def merge_states(job: WindowJob, a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    """Merge two parts of one window and group (e.g. from two shards)."""
    return [m.function.merge(x, y) for m, x, y in zip(job.metrics, a, b, strict=True)]


def _row_key(events: pa.Table, keys: list[str], row: int) -> tuple[Any, ...]:
    """The (start, *group) key of one row (rare values only: this is per-row Python)."""
    return tuple(events.column(name)[row].as_py() for name in keys)


def _sort_key(key: GroupKey) -> tuple[Any, ...]:
    return tuple((v is None, "" if v is None else v) for v in key)


def newest_before(times: np.ndarray, newest_so_far: int) -> np.ndarray:
    """For each position, the newest event time among ``newest_so_far`` and earlier ``times``."""
    if len(times) == 0:
        return np.empty(0, dtype=np.int64)
    running = np.maximum.accumulate(times)
    before = np.empty_like(running)
    before[0] = newest_so_far
    before[1:] = np.maximum(running[:-1], newest_so_far)
    return before
