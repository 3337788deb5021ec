"""The tumbling-window operator of one job on one shard.

Semantics (also in the README):

* Windows are half-open ``[start, end)`` of ``size_ms``, aligned to the epoch, in UTC event time.
* The watermark is the newest event time seen on the shard minus the job's allowed lateness. A
  window closes when the watermark reaches its end (``end <= watermark``); a closed window is
  emitted once, final.
* An event is *late* when its window had closed on its arrival, that is when
  ``end <= (newest event time of the records before it) - lateness``. This is decided per record
  in shard order, so it does not depend on how records were split into batches.

Each (window, group) has a *slot*, assigned per row by a compiled hash table of the encoded
(start, *group values) (:mod:`pipeline.core._kernels`); numeric metrics fold their rows into
arrays by slot in C, other metrics (distinct sets, sketches, first/last) fold one Arrow hash
aggregation by slot per batch into a plain state per slot. Closing windows are emitted in C, in
the order of their start and group values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core._kernels import (
    KeyTable,
    PlainMetric,
    assign_slots,
    closing_slots,
    column_of,
    emit,
)
from pipeline.core.events.decode import EVENT_TIME
from pipeline.core.results import ClosedWindows, WindowResult
from pipeline.core.windows import exact
from pipeline.core.windows.numeric import VECTORISED, numeric_metric
from pipeline.core.windows.spec import WindowJob

SLOT = "__slot"

#: A group is the tuple of its group-by values; a job without group-by has the one group ().
GroupKey = tuple[Any, ...]


class WindowOperator:
    """Open windows of one job, one *slot* per window and group."""

    def __init__(self, job: WindowJob) -> None:
        self.job = job
        self._slots = KeyTable()
        self._starts: set[int] = set()  # of the open windows
        self._metrics: list[Any] = []  # a NumericMetric or PlainMetric per metric
        self._plain: list[tuple[int, str, list[tuple[Any, str]]]] = []  # index, column, aggs
        schema = job.etype.arrow_schema
        for i, metric in enumerate(job.metrics):
            if metric.function.name in VECTORISED:
                integer = metric.field is not None and pa.types.is_integer(
                    schema.field(metric.field).type
                )
                self._metrics.append(numeric_metric(metric, integer))
                continue
            self._metrics.append(PlainMetric(metric.name, metric.function.finish))
            column = f"__metric_{i}" if metric.condition else metric.field
            # every function that is not vectorised reads a field: column is a str
            aggregations = metric.function.arrow_aggregations(column)  # type: ignore[arg-type]
            self._plain.append((i, column, list(aggregations)))  # type: ignore[arg-type]

    @property
    def open_windows(self) -> int:
        return len(self._starts)

    @property
    def open_groups(self) -> int:
        return len(self._slots)

    def add(
        self, events: pa.Table, newest_before: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Fold the ``rows`` of ``events`` (int64; None: all) into their windows; return the
        mask of late ones (not folded), over ``rows``.

        ``newest_before[i]`` is the newest event time seen on the shard before row ``rows[i]``.
        The rows are read in place: a batch is not copied to drop its duplicates or late events.
        """
        size = self.job.size_ms
        times = events.column(EVENT_TIME).to_numpy()
        if rows is not None:
            times = times[rows]
        starts = times - times % size
        late = starts + size <= newest_before - self.job.lateness_ms
        if late.any():
            on_time = ~late
            rows = np.flatnonzero(on_time) if rows is None else rows[on_time]
            starts = starts[on_time]
        if len(starts):
            self._fold(events, np.ascontiguousarray(starts), rows)
        return late

    def _fold(self, events: pa.Table, starts: np.ndarray, rows: np.ndarray | None) -> None:
        columns = [column_of(events.column(name)) for name in self.job.group_by]
        slots, new_starts = assign_slots(self._slots, starts, columns, rows)
        for metric in self._metrics:
            metric.grow(self._slots.slots)
        self._starts |= new_starts
        columns_read: dict[tuple[str | None, bool], Any] = {}  # each column is read once
        for i, metric in enumerate(self.job.metrics):
            numeric = self._metrics[i]
            if isinstance(numeric, PlainMetric):
                continue
            condition = _mask(metric.condition.mask(events)) if metric.condition else None
            read = (metric.field, numeric.function != "count")
            if read not in columns_read:
                columns_read[read] = _numbers(events, *read)
            values, valid = columns_read[read]
            for position in numeric.fold(slots, values, valid, condition, rows):
                row = position if rows is None else int(rows[position])
                numeric.add_rare(int(slots[position]), exact.rare_units(float(values[row])))
        if self._plain:
            self._fold_plain(events if rows is None else events.take(rows), slots)

    def _fold_plain(self, events: pa.Table, slots: np.ndarray) -> None:
        """The other metrics: one Arrow hash aggregation by slot, merged into each slot's state."""
        table = events.append_column(SLOT, pa.array(slots))
        aggregations = []
        for i, column, wanted in self._plain:
            metric = self.job.metrics[i]
            if metric.condition is not None:
                source = events.column(metric.field)
                table = table.append_column(
                    column, pc.if_else(metric.condition.mask(events), source, None)
                )
            aggregations += wanted
        partials = table.group_by([SLOT], use_threads=False).aggregate(aggregations)
        names = partials.column_names
        position = 1 if names[0] == SLOT else 0  # Arrow has put the key first or last
        slot_list = partials.column(SLOT).to_pylist()
        for i, _, wanted in self._plain:
            outputs = [partials.column(position + j).to_pylist() for j in range(len(wanted))]
            position += len(wanted)
            function, states = self.job.metrics[i].function, self._metrics[i].slots
            for row, slot in enumerate(slot_list):
                partial = function.partial([o[row] for o in outputs])
                states[slot] = function.merge(states[slot], partial)

    def close(self, newest_event_time_ms: int) -> Sequence[WindowResult]:
        """Emit and forget every window whose end the watermark has reached."""
        last_start = newest_event_time_ms - self.job.lateness_ms - self.job.size_ms
        if not any(start <= last_start for start in self._starts):
            return ()
        return self._emit(last_start)

    def close_all(self) -> Sequence[WindowResult]:
        """End of input: emit every open window."""
        return self._emit(max(self._starts)) if self._starts else ()

    def _emit(self, last_start: int) -> ClosedWindows:
        job = self.job
        slots = closing_slots(self._slots, last_start)
        self._starts = {start for start in self._starts if start > last_start}
        starts, groups, metrics = emit(self._slots, slots, self._metrics, len(job.group_by))
        return ClosedWindows(job.name, job.size_ms, starts, job.group_by, groups, metrics)

    def to_state(self) -> list[list[Any]]:
        """Open windows as ``[start, group key, [state per metric]]`` (plain data)."""
        slots, _, keys = self._slots.live()
        columns = [metric.states(slots) for metric in self._metrics]
        return [
            [key[0], list(key[1:]), [column[row] for column in columns]]
            for row, key in enumerate(keys)
        ]

    def load_state(self, state: list[list[Any]]) -> None:
        self.__init__(self.job)  # type: ignore[misc]
        for start, key, values in state:
            slot = self._slots.add((int(start), *key), int(start))
            self._starts.add(int(start))
            for metric, value in zip(self._metrics, values, strict=True):
                metric.grow(self._slots.slots)
                if isinstance(metric, PlainMetric):
                    metric.slots[slot] = value
                else:
                    metric.load(slot, value, _canonical)


def finish(job: WindowJob, states: Sequence[Any]) -> tuple[tuple[str, Any], ...]:
    """Metric values from the metrics' merged states."""
    return tuple(
        (metric.name, metric.function.finish(state))
        for metric, state in zip(job.metrics, states, strict=True)
    )


def merge_states(job: WindowJob, a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    """Merge two parts of one window and group (e.g. from two shards)."""
    return [m.function.merge(x, y) for m, x, y in zip(job.metrics, a, b, strict=True)]


def _canonical(total: Any) -> Any:
    return exact.add(total, None)


def _mask(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A condition's Arrow mask as uint8 (nulls never match)."""
    return np.ascontiguousarray(mask.to_numpy(zero_copy_only=False), dtype=np.uint8)


def _numbers(
    events: pa.Table, field: str | None, values: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A column's values (None: not ``values``) and validity (None: no null). The values are
    the column's own buffer, read in place: a null's slot holds anything, and the folds read
    no row their validity excludes."""
    if field is None:
        return None, None
    column = events.column(field).combine_chunks()
    valid = None
    if column.null_count:
        valid = column.is_valid().to_numpy(zero_copy_only=False).view(np.uint8)
    if not values:
        return None, valid
    dtype = _IN_PLACE.get(column.type)
    if dtype is None:
        return np.ascontiguousarray(column.fill_null(0).to_numpy(zero_copy_only=False)), valid
    buffer = column.buffers()[1]
    return np.frombuffer(buffer, dtype, len(column), column.offset * dtype.itemsize), valid


#: Arrow types whose values buffer numpy reads as is.
_IN_PLACE = {pa.float64(): np.dtype(np.float64), pa.int64(): np.dtype(np.int64)}


def newest_before(times: np.ndarray, newest_so_far: int) -> np.ndarray:
    """For each position, the newest event time among ``newest_so_far`` and earlier ``times``."""
    if len(times) == 0:
        return np.empty(0, dtype=np.int64)
    running = np.maximum.accumulate(times)
    before = np.empty_like(running)
    before[0] = newest_so_far
    before[1:] = np.maximum(running[:-1], newest_so_far)
    return before
