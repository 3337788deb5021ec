"""The tumbling-window operator of one job on one shard.

Semantics (also in the README):

* Windows are half-open ``[start, end)`` of ``size_ms``, aligned to the epoch, in UTC event time.
* The watermark is the newest event time seen on the shard minus the job's allowed lateness. A
  window closes when the watermark reaches its end (``end <= watermark``); a closed window is
  emitted once, final.
* An event is *late* when its window had closed on its arrival, that is when
  ``end <= (newest event time of the records before it) - lateness``. This is decided per record
  in shard order, so it does not depend on how records were split into batches.

Batches are folded a group at a time: one Arrow hash aggregation per batch, then a merge of each
group's partial components into the open window's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.events.decode import EVENT_TIME
from pipeline.results import WindowResult
from pipeline.windows.spec import MetricSpec, WindowJob

WINDOW_START = "window_start_ms"

#: A group is the tuple of its group-by values; a job without group-by has the one group ().
GroupKey = tuple[Any, ...]


class WindowOperator:
    """Open windows of one job: ``window start -> group key -> [state of each metric]``."""

    def __init__(self, job: WindowJob) -> None:
        self.job = job
        self._open: dict[int, dict[GroupKey, list[Any]]] = {}
        self._aggregations: list[tuple[Any, str]] = []
        self._derived: list[tuple[str, MetricSpec]] = []  # filtered metrics' input columns
        self._widths: list[int] = []
        for i, metric in enumerate(job.metrics):
            column = metric.field
            if metric.condition is not None:
                column = f"__metric_{i}"
                self._derived.append((column, metric))
            if column is None:  # count() counts rows
                aggregations: list[tuple[Any, str]] = [([], "count_all")]
            else:
                aggregations = list(metric.function.arrow_aggregations(column))
            self._aggregations += aggregations
            self._widths.append(len(aggregations))

    @property
    def open_windows(self) -> int:
        return len(self._open)

    @property
    def open_groups(self) -> int:
        return sum(len(groups) for groups in self._open.values())

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
            mask = metric.condition.mask(events)
            source = (
                events.column(metric.field) if metric.field else pa.repeat(True, events.num_rows)
            )
            events = events.append_column(column, pc.if_else(mask, source, None))
        keys = [WINDOW_START, *self.job.group_by]
        partials = events.group_by(keys, use_threads=False).aggregate(self._aggregations)
        columns = [partials.column(i).to_pylist() for i in range(partials.num_columns)]
        # Arrow has put the keys first (pyarrow >= 22) and last (older): accept either
        if partials.column_names[: len(keys)] == keys:
            starts, groups, aggs = columns[0], columns[1 : len(keys)], columns[len(keys) :]
        else:
            n_aggs = len(self._aggregations)
            aggs, starts, groups = columns[:n_aggs], columns[n_aggs], columns[n_aggs + 1 :]
        functions = [m.function for m in self.job.metrics]
        slices = []
        position = 0
        for width in self._widths:
            slices.append(aggs[position : position + width])
            position += width
        open_windows = self._open
        for row, start in enumerate(starts):
            window = open_windows.get(start)
            if window is None:
                window = open_windows[start] = {}
            key = tuple(g[row] for g in groups)
            partial = [
                f.partial([c[row] for c in cols]) for f, cols in zip(functions, slices, strict=True)
            ]
            state = window.get(key)
            if state is None:
                window[key] = partial
            else:
                for i, function in enumerate(functions):
                    state[i] = function.merge(state[i], partial[i])

    def close(self, newest_event_time_ms: int) -> list[WindowResult]:
        """Emit and forget every window whose end the watermark has reached."""
        watermark = newest_event_time_ms - self.job.lateness_ms
        size = self.job.size_ms
        return self._emit(sorted(s for s in self._open if s + size <= watermark))

    def close_all(self) -> list[WindowResult]:
        """End of input: emit every open window."""
        return self._emit(sorted(self._open))

    def _emit(self, starts: list[int]) -> list[WindowResult]:
        job = self.job
        results = []
        for start in starts:
            groups = self._open.pop(start)
            for key in sorted(groups, key=_sort_key):
                results.append(
                    WindowResult(
                        job.name,
                        start,
                        start + job.size_ms,
                        tuple(zip(job.group_by, key, strict=True)),
                        finish(job, groups[key]),
                        tuple(groups[key]),
                    )
                )
        return results

    def to_state(self) -> list[list[Any]]:
        return [
            [start, list(key), values]
            for start, groups in self._open.items()
            for key, values in groups.items()
        ]

    def load_state(self, state: list[list[Any]]) -> None:
        self._open = {}
        for start, key, values in state:
            self._open.setdefault(int(start), {})[tuple(key)] = list(values)


def finish(job: WindowJob, states: Sequence[Any]) -> tuple[tuple[str, Any], ...]:
    """Metric values from the metrics' merged states."""
    return tuple(
        (metric.name, metric.function.finish(state))
        for metric, state in zip(job.metrics, states, strict=True)
    )


def merge_states(job: WindowJob, a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    """Merge two parts of one window and group (e.g. from two shards)."""
    return [m.function.merge(x, y) for m, x, y in zip(job.metrics, a, b, strict=True)]


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
