"""Mergeable aggregate functions for window metrics.

An aggregate is a tuple of *components*, each computed per batch and group by one Arrow hash
aggregation and merged across batches by one associative operation (sum, min or max), plus a
function from the merged components to the result. Partial states are plain numbers, so they
merge in any batch split and snapshot as JSON. ``avg`` is (sum, count): averaging averages would
depend on the batch split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa


def _min(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def _sum(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


COMBINE: dict[str, Callable[[Any, Any], Any]] = {"sum": _sum, "min": _min, "max": _max}


@dataclass(frozen=True)
class Component:
    """One partial: the Arrow hash aggregation per batch and how partials merge."""

    arrow_function: str  # "count", "count_all", "sum", "min", "max"
    combine: str  # a key of COMBINE


@dataclass(frozen=True)
class AggregateFunction:
    """A declared metric function such as ``avg(temperature)``."""

    name: str
    components: tuple[Component, ...]
    finish: Callable[[list[Any]], Any]
    takes_field: bool = True
    numeric_only: bool = True

    def result_type(self, field_type: pa.DataType | None) -> pa.DataType:
        if self.name == "count":
            return pa.int64()
        if self.name in ("avg",) or field_type is None:
            return pa.float64()
        return field_type


def _avg(parts: list[Any]) -> float | None:
    total, count = parts
    return None if not count else total / count


FUNCTIONS: dict[str, AggregateFunction] = {
    f.name: f
    for f in (
        AggregateFunction(
            "count", (Component("count", "sum"),), lambda p: p[0] or 0, numeric_only=False
        ),
        AggregateFunction("sum", (Component("sum", "sum"),), lambda p: p[0]),
        AggregateFunction("min", (Component("min", "min"),), lambda p: p[0]),
        AggregateFunction("max", (Component("max", "max"),), lambda p: p[0]),
        AggregateFunction("avg", (Component("sum", "sum"), Component("count", "sum")), _avg),
    )
}
