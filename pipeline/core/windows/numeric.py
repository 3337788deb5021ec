"""Count, sum, min, max and avg metrics held as numpy arrays indexed by slot (no Python per
group); states are converted to and from the functions' plain form (``windows.aggregates``) only
at the edges: emission, snapshots, restore.

Sums are exact, so a window's state and value never depend on how its events were split into
batches: counts and sums of integer fields are int64, sums of floats are limbs of an exact sum
(:mod:`pipeline.core.windows.exact`; the rare doubles outside the limbs' range are added in
Python, per slot).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.core.windows import exact
from pipeline.core.windows.spec import MetricSpec

#: The functions held here; the others keep a plain state per slot.
VECTORISED = {"count", "sum", "min", "max", "avg"}


class NumericMetric:
    """One metric's state for every slot of a window operator."""

    def __init__(self, metric: MetricSpec, column: str | None, integer: bool) -> None:
        self.kind = metric.function.name
        self.name = metric.name
        self.integer = integer
        self.column = column
        #: a float sum (sum, avg of a float field): kept exactly, as limbs
        self.exact = self.kind in ("sum", "avg") and column is not None and not integer
        if column is None:
            self.aggregations: list[tuple[Any, str]] = [([], "count_all")]
        elif self.exact:
            self.aggregations = [(self._limb(k), "sum") for k in range(exact.LIMBS)]
            self.aggregations.append((column, "count"))
        elif self.kind in ("sum", "avg"):
            self.aggregations = [(column, "sum"), (column, "count")]
        else:
            self.aggregations = [(column, self.kind)]
        ints = self.kind == "count" or (self.kind in ("sum", "avg") and integer)
        self.value = np.zeros(0, dtype=np.int64 if ints else np.float64)  # count/sum/min/max
        self.limbs = np.zeros((0, exact.LIMBS), dtype=np.int64)  # exact float sums
        self.rare: dict[int, int] = {}  # slot -> the rare doubles' exact sum (float sums)
        self.count = np.zeros(0, dtype=np.int64)  # non-null values (sum, avg)
        self._rare_rows: tuple[np.ndarray, list[float]] | None = None

    def _limb(self, k: int) -> str:
        return f"{self.name}#limb{k}"

    def derive(self, events: pa.Table) -> pa.Table:
        """``events`` with the limb columns of an exact float sum (others: unchanged); the
        rare values are kept for :meth:`fold_rare`."""
        if not self.exact:
            return events
        values = events.column(self.column).to_numpy(zero_copy_only=False).astype(np.float64)
        limbs, rare = exact.split(values)
        for k in range(exact.LIMBS):
            events = events.append_column(self._limb(k), pa.array(limbs[:, k]))
        rows = np.flatnonzero(rare)
        self._rare_rows = (rows, values[rows].tolist()) if len(rows) else None
        return events

    def grow(self, capacity: int) -> None:
        extra = capacity - len(self.value)
        fill = np.nan if self.kind in ("min", "max") else 0
        self.value = np.concatenate([self.value, np.full(extra, fill, dtype=self.value.dtype)])
        self.count = np.concatenate([self.count, np.zeros(extra, dtype=np.int64)])
        if self.exact:
            self.limbs = np.concatenate([self.limbs, np.zeros((extra, exact.LIMBS), np.int64)])

    def reset(self, slots: np.ndarray) -> None:
        self.value[slots] = np.nan if self.kind in ("min", "max") else 0
        self.count[slots] = 0
        if self.exact:
            self.limbs[slots] = 0
            for slot in slots.tolist():
                self.rare.pop(slot, None)

    def fold(self, slots: np.ndarray, outputs: list[pa.ChunkedArray]) -> None:
        arrays = [o.to_numpy(zero_copy_only=False) for o in outputs]
        if self.kind == "min":
            self.value[slots] = np.fmin(self.value[slots], arrays[0].astype(np.float64))
        elif self.kind == "max":
            self.value[slots] = np.fmax(self.value[slots], arrays[0].astype(np.float64))
        elif self.kind == "count":
            self.value[slots] += arrays[0].astype(np.int64)
        elif self.exact:
            self.limbs[slots] = exact.normalize(self.limbs[slots] + np.stack(arrays[:-1], 1))
            self.count[slots] += arrays[-1].astype(np.int64)
        else:  # integer sum, avg: all-null groups sum to null and count 0
            self.value[slots] += outputs[0].fill_null(0).to_numpy().astype(np.int64)
            self.count[slots] += arrays[1].astype(np.int64)

    def fold_rare(self, slot_of_row: Any) -> None:
        """Add the rare doubles of the last :meth:`derive` to their rows' slots, exactly."""
        if self._rare_rows is None:
            return
        rows, values = self._rare_rows
        self._rare_rows = None
        for row, number in zip(rows.tolist(), values, strict=True):
            slot = slot_of_row(row)
            self.rare[slot] = self.rare.get(slot, 0) + exact.rare_units(number)

    def states(self, slots: np.ndarray) -> list[Any]:
        if self.kind == "count":
            return self.value[slots].tolist()
        if self.kind in ("min", "max"):
            value = self.value[slots]
            out = value.astype(np.int64).tolist() if self.integer else value.tolist()
            missing = np.isnan(value).tolist()
            return [None if m else o for m, o in zip(missing, out, strict=True)]
        count = self.count[slots].tolist()
        if self.exact:
            sums = exact.of_rows(self.limbs[slots])
            for i, slot in enumerate(slots.tolist()):
                if slot in self.rare:
                    sums[i] = exact.with_rare(sums[i], self.rare[slot])
        else:
            sums = self.value[slots].tolist()
        if self.kind == "sum":
            return [s if c else None for s, c in zip(sums, count, strict=True)]
        return [[s, c] if c else None for s, c in zip(sums, count, strict=True)]

    def values(self, slots: np.ndarray, states: list[Any]) -> list[Any]:
        """Metric values of the slots whose states :meth:`states` returned."""
        if not self.exact:
            if self.kind != "avg":
                return states
            return [None if s is None else s[0] / s[1] for s in states]
        sums = exact.values(self.limbs[slots]).tolist()
        for i, slot in enumerate(slots.tolist()):
            if slot in self.rare:
                state = states[i] if self.kind == "sum" else states[i][0]
                sums[i] = exact.value(state)
        if self.kind == "sum":
            return [None if s is None else v for v, s in zip(sums, states, strict=True)]
        return [None if s is None else v / s[1] for v, s in zip(sums, states, strict=True)]

    def load(self, slot: int, state: Any) -> None:
        if state is None:
            return
        total, count = state if self.kind == "avg" else (state, 1)
        if self.exact:
            canonical = exact.add(total, None) or [0] * exact.LIMBS
            self.limbs[slot] = canonical[: exact.LIMBS]
            if len(canonical) > exact.LIMBS:
                self.rare[slot] = int(canonical[exact.LIMBS])
            self.count[slot] = count
        elif self.kind in ("sum", "avg"):
            self.value[slot], self.count[slot] = total, count
        else:
            self.value[slot] = state
