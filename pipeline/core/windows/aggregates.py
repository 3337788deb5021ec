"""Mergeable aggregate functions for window metrics.

Every function folds a batch's rows of one group into a *partial state* through Arrow hash
aggregations, and merges partial states associatively and commutatively: results never depend
on how records were split into batches, or on which shard saw which part of a window (per-shard
parts of one window merge the same way). States are plain data (numbers, lists, dicts) so that
they snapshot with the checkpoint and travel as per-shard parts.

Functions (``field`` optional for ``count``):

* ``count()``, ``count(f)`` (non-null), ``sum``, ``min``, ``max``, ``avg`` (as sum and count:
  averaging averages would depend on the split); sums are exact (integers as integers, floats
  as :mod:`pipeline.core.windows.exact` states), so they do not depend on the split either;
* ``count_distinct(f)``: exact, the state is the set of values (memory grows with them);
* ``approx_count_distinct(f)``: HyperLogLog with 2^12 registers (4 KiB per state whatever the
  cardinality), standard error 1.04/sqrt(4096) = 1.6%;
* ``first(f)`` / ``last(f)``: the value of the earliest / latest event by event time (ties: the
  smaller value);
* ``p50(f)``, ``p95(f)``, ``p99(f)``: DDSketch quantiles with relative accuracy 1%: the returned
  value is within 1% of the exact quantile (nearest-rank), in any split.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.core.events.decode import EVENT_TIME
from pipeline.core.windows import exact

#: An Arrow hash aggregation: (column, function) for ``TableGroupBy.aggregate``.
ArrowAggregation = tuple[str, str]


@dataclass(frozen=True)
class AggregateFunction:
    """A metric function: its Arrow aggregations per batch, and how its partials merge.

    ``partial`` builds a state from the aggregation outputs of one group (in the order of
    ``arrow_aggregations``); ``merge`` combines two states (either may be ``None``: no rows);
    ``finish`` gives the metric's value.
    """

    name: str
    arrow_aggregations: Callable[[str], list[ArrowAggregation]]
    partial: Callable[[Sequence[Any]], Any]
    merge: Callable[[Any, Any], Any]
    finish: Callable[[Any], Any]
    result_type: Callable[[pa.DataType | None], pa.DataType]
    takes_field: bool = True
    numeric_only: bool = True


def _none_aware(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def merge(a: Any, b: Any) -> Any:
        if a is None:
            return b
        if b is None:
            return a
        return op(a, b)

    return merge


_add = _none_aware(lambda a, b: a + b)
_min = _none_aware(min)
_max = _none_aware(max)


def _sum_partial(values: Sequence[Any]) -> Any:
    """Integers sum as integers; floats exactly (:mod:`pipeline.core.windows.exact`)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, int) for v in present):
        return sum(present)
    return exact.of_values(present)


def _sum_merge(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return exact.add(a, b)


def _add_pairs(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return [_sum_merge(a[0], b[0]), a[1] + b[1]]


def _count(values: Sequence[Any]) -> int:
    return sum(v is not None for v in values)


def _same_type(field_type: pa.DataType | None) -> pa.DataType:
    return field_type or pa.float64()


def _float(_: pa.DataType | None) -> pa.DataType:
    return pa.float64()


def _int(_: pa.DataType | None) -> pa.DataType:
    return pa.int64()


# -- HyperLogLog ----------------------------------------------------------------------------------

HLL_BITS = 12
HLL_REGISTERS = 1 << HLL_BITS


def _hash64(value: Any) -> int:
    """A stable 64-bit hash (Python's ``hash`` is salted per process; states cross processes)."""
    return int.from_bytes(
        hashlib.blake2b(str(value).encode("utf-8"), digest_size=8).digest(), "big"
    )


def hll_registers(values: Sequence[Any]) -> list[int]:
    registers = np.zeros(HLL_REGISTERS, dtype=np.uint8)
    if values:
        hashes = np.array([_hash64(v) for v in values], dtype=np.uint64)
        index = (hashes >> np.uint64(64 - HLL_BITS)).astype(np.int64)
        rest = hashes << np.uint64(HLL_BITS)
        # rank = position of the first 1-bit in the remaining 52 bits (1-based)
        bit_length = np.zeros(len(rest), dtype=np.int64)
        nonzero = rest != 0
        bit_length[nonzero] = (
            np.floor(np.log2(rest[nonzero].astype(np.float64))).astype(np.int64) + 1
        )
        rank = np.where(nonzero, 64 - bit_length + 1, 64 - HLL_BITS + 1).astype(np.uint8)
        np.maximum.at(registers, index, rank)
    return registers.tolist()


def _hll_merge(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return np.maximum(np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8)).tolist()


def hll_estimate(registers: Sequence[int] | None) -> int:
    if registers is None:
        return 0
    r = np.asarray(registers, dtype=np.float64)
    m = float(HLL_REGISTERS)
    alpha = 0.7213 / (1 + 1.079 / m)
    raw = alpha * m * m / float(np.sum(np.power(2.0, -r)))
    zeros = int(np.count_nonzero(r == 0))
    if raw <= 2.5 * m and zeros:
        return round(m * math.log(m / zeros))  # linear counting for small cardinalities
    return round(raw)


# -- DDSketch (relative-accuracy quantiles) -------------------------------------------------------

SKETCH_ACCURACY = 0.01
_GAMMA = (1 + SKETCH_ACCURACY) / (1 - SKETCH_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)


def sketch_of(values: Sequence[Any]) -> dict[str, Any] | None:
    """{"p": {index: count}, "n": {index: count}, "z": zeros, "c": total} of the non-null values."""
    numbers = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if numbers.size == 0:
        return None
    sketch: dict[str, Any] = {
        "p": {},
        "n": {},
        "z": int(np.count_nonzero(numbers == 0)),
        "c": int(numbers.size),
    }
    for key, chosen in (("p", numbers[numbers > 0]), ("n", -numbers[numbers < 0])):
        if chosen.size:
            indices, counts = np.unique(
                np.ceil(np.log(chosen) / _LOG_GAMMA).astype(np.int64), return_counts=True
            )
            sketch[key] = {int(i): int(c) for i, c in zip(indices, counts, strict=True)}
    return sketch


def _sketch_merge(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    merged = {"z": a["z"] + b["z"], "c": a["c"] + b["c"]}
    for key in ("p", "n"):
        bins = {int(k): v for k, v in a[key].items()}
        for index, count in b[key].items():
            bins[int(index)] = bins.get(int(index), 0) + count
        merged[key] = bins
    return merged


def sketch_quantile(sketch: Any, q: float) -> float | None:
    """The nearest-rank q-quantile, within ``SKETCH_ACCURACY`` relative error."""
    if sketch is None:
        return None
    rank = max(1, math.ceil(q * sketch["c"]))  # 1-based nearest rank
    negatives = sorted(((int(k), v) for k, v in sketch["n"].items()), reverse=True)
    positives = sorted((int(k), v) for k, v in sketch["p"].items())
    seen = 0
    for index, count in negatives:  # most negative first
        seen += count
        if seen >= rank:
            return -2 * _GAMMA**index / (_GAMMA + 1)
    seen += sketch["z"]
    if seen >= rank:
        return 0.0
    for index, count in positives:
        seen += count
        if seen >= rank:
            return 2 * _GAMMA**index / (_GAMMA + 1)
    return None  # pragma: no cover - ranks never exceed the count


def _quantile(q: float) -> AggregateFunction:
    return AggregateFunction(
        f"p{round(q * 100)}",
        lambda f: [(f, "list")],
        lambda parts: sketch_of(parts[0]),
        _sketch_merge,
        lambda state: sketch_quantile(state, q),
        _float,
    )


# -- first / last by event time -----------------------------------------------------------------


def _earliest(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return min(a, b, key=_order)


def _latest(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b, key=lambda pair: (pair[0], _negated(pair[1])))


def _order(pair: Sequence[Any]) -> tuple[Any, ...]:
    time, value = pair
    return (time, value is None, value if value is not None else 0)


def _negated(value: Any) -> tuple[bool, Any]:
    # ties at the same time pick the smaller value for ``last`` too
    if value is None:
        return (False, 0)
    return (True, -value) if isinstance(value, int | float) else (True, value)


def _first_partial(parts: Sequence[Any]) -> Any:
    times, values = parts
    pairs = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
    return [*min(pairs, key=_order)] if pairs else None


def _last_partial(parts: Sequence[Any]) -> Any:
    times, values = parts
    pairs = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
    return [*max(pairs, key=lambda p: (p[0], _negated(p[1])))] if pairs else None


def _with_time(field: str) -> list[ArrowAggregation]:
    return [(EVENT_TIME, "list"), (field, "list")]


def _value(state: Any) -> Any:
    return None if state is None else state[1]


FUNCTIONS: dict[str, AggregateFunction] = {
    f.name: f
    for f in (
        AggregateFunction(
            "count",
            lambda f: [(f, "count")],
            lambda p: p[0],
            _add,
            lambda s: s or 0,
            _int,
            numeric_only=False,
        ),
        AggregateFunction(
            "sum",
            lambda f: [(f, "list")],
            lambda p: _sum_partial(p[0]),
            _sum_merge,
            exact.value,
            _same_type,
        ),
        AggregateFunction(
            "min", lambda f: [(f, "min")], lambda p: p[0], _min, lambda s: s, _same_type
        ),
        AggregateFunction(
            "max", lambda f: [(f, "max")], lambda p: p[0], _max, lambda s: s, _same_type
        ),
        AggregateFunction(
            "avg",
            lambda f: [(f, "list")],
            lambda p: None if not _count(p[0]) else [_sum_partial(p[0]), _count(p[0])],
            _add_pairs,
            lambda s: None if not s else exact.value(s[0]) / s[1],
            _float,
        ),
        AggregateFunction(
            "count_distinct",
            lambda f: [(f, "distinct")],
            lambda p: sorted(p[0]) if p[0] else None,
            _none_aware(lambda a, b: sorted(set(a) | set(b))),
            lambda s: len(s) if s else 0,
            _int,
            numeric_only=False,
        ),
        AggregateFunction(
            "approx_count_distinct",
            lambda f: [(f, "distinct")],
            lambda p: hll_registers(p[0]) if p[0] else None,
            _hll_merge,
            hll_estimate,
            _int,
            numeric_only=False,
        ),
        AggregateFunction(
            "first", _with_time, _first_partial, _earliest, _value, _same_type, numeric_only=False
        ),
        AggregateFunction(
            "last", _with_time, _last_partial, _latest, _value, _same_type, numeric_only=False
        ),
        _quantile(0.50),
        _quantile(0.95),
        _quantile(0.99),
    )
}
