"""Synthetic events of any declared type, from the declaration alone.

For load-testing a new schema before real devices exist. A run has ``keys`` partition-key values
(devices, users, ...); each key sends an event every ``interval_ms`` on average (a Poisson process
on the simulated clock). Every field is drawn within its declaration: numbers uniformly in
``[min, max]`` (two decimals for floats), strings from their ``choices``, from their ``pattern``
(``rstr``), or as ``<field>-<n>`` within their length bounds; an optional field is present with a
value nine times in ten, explicitly null or absent otherwise. Ids are unique per run.

Columns are drawn with numpy from one seeded generator, in a fixed order: the same seed, type and
options give the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import rstr

from pipeline.core.events.schema import EventType, FieldSpec
from producers.block import Block
from producers.simulation import ChunkedSource

#: Distinct values drawn per free-text field (then picked from, uniformly).
STRING_POOL = 1_000
#: Optional fields: the share present with a value; the rest is split between null and absent.
PRESENT = 0.9
#: Bounds of a number field declared without them.
DEFAULT_RANGE = (0.0, 1000.0)
_ABSENT = object()


class SyntheticSource(ChunkedSource[dict[str, Any]]):
    """Events of ``etype`` for ``keys`` keys from ``start_ms``."""

    def __init__(
        self, etype: EventType, keys: int, seed: int, start_ms: int, interval_ms: int = 10_000
    ) -> None:
        if keys <= 0:
            raise ValueError("keys must be positive")
        if interval_ms <= 0:
            raise ValueError("the interval must be positive")
        super().__init__(seed, start_ms, msgspec.json.decode)
        self.etype = etype
        self.interval_ms = interval_ms
        self.chunk_ms = int(min(60_000, max(1_000, interval_ms * 100_000 / keys)))
        regex = rstr.Rstr(random.Random(int(self.rng.integers(0, 2**63))))
        self._pools = {
            spec.name: _string_pool(spec, regex)
            for spec in etype.field_specs
            if spec.type == "string" and not spec.choices
        }
        key_field = etype.spec(etype.partition_key_field)
        self._key_values = _key_values(key_field, keys, self._pools.get(key_field.name))
        self._encode = msgspec.json.Encoder().encode

    def _chunk(self, t0: int, t1: int) -> Block:
        rng = self.rng
        n = int(rng.poisson(len(self._key_values) * (t1 - t0) / self.interval_ms))
        ts = np.sort(rng.integers(t0, t1, n))
        codes = rng.integers(0, len(self._key_values), n)
        numbers = self._next_numbers(n)
        etype = self.etype
        columns: dict[str, list[Any]] = {}
        for spec in etype.field_specs:
            values: list[Any]
            if spec.name == etype.id_field:
                values = [f"{self.run_id:016x}-{i:012d}" for i in numbers.tolist()]
                if spec.type == "int":
                    values = (numbers + (self.run_id % 2**31) * 10**12).tolist()
            elif spec.name == etype.time_field:
                values = [etype.time_value(t) for t in ts.tolist()]
            elif spec.name == etype.partition_key_field:
                values = [self._key_values[c] for c in codes.tolist()]
            else:
                values = self._draw(spec, n)
            if not spec.required and spec.name not in (etype.partition_key_field,):
                values = _sometimes_missing(values, rng)
            columns[spec.name] = values
        names = list(columns)
        encode = self._encode
        data = [
            encode({k: v for k, v in zip(names, row, strict=True) if v is not _ABSENT})
            for row in zip(*columns.values(), strict=True)
        ]
        keys = [str(k) for k in columns[etype.partition_key_field]]
        return Block(data, keys, ts.astype(np.int64), codes=codes)

    def _draw(self, spec: FieldSpec, n: int) -> list[Any]:
        rng = self.rng
        if spec.choices:
            return [spec.choices[i] for i in rng.integers(0, len(spec.choices), n).tolist()]
        if spec.type == "string":
            pool = self._pools[spec.name]
            return [pool[i] for i in rng.integers(0, len(pool), n).tolist()]
        if spec.type == "bool":
            return (rng.random(n) < 0.5).tolist()
        low, high = _bounds(spec)
        if spec.type == "int":
            return rng.integers(int(low), int(high) + 1, n).tolist()
        hundredths = rng.integers(int(np.ceil(low * 100)), int(np.floor(high * 100)) + 1, n)
        return (hundredths / 100).tolist()


def _bounds(spec: FieldSpec) -> tuple[float, float]:
    low = spec.min if spec.min is not None else min(DEFAULT_RANGE[0], spec.max or 0.0)
    high = spec.max if spec.max is not None else max(DEFAULT_RANGE[1], low)
    return float(low), float(high)


def _string_pool(spec: FieldSpec, regex: rstr.Rstr) -> list[str]:
    """Distinct-enough values of a free-text field, within its pattern and length bounds."""
    low = spec.min_length or 0
    high = spec.max_length if spec.max_length is not None else max(low, 24)
    make: Callable[[int], str]
    if spec.pattern:
        pattern = spec.pattern  # narrowed to str for the lambda
        make = lambda _: regex.xeger(pattern)  # noqa: E731
    else:
        make = lambda i: f"{spec.name}-{i:05d}"  # noqa: E731
    pool = []
    for i in range(STRING_POOL):
        value = make(i)[:high]
        pool.append(value + "x" * (low - len(value)))
    return pool


def _key_values(spec: FieldSpec, keys: int, pool: list[str] | None) -> list[Any]:
    """``keys`` partition-key values (fewer when the field's choices allow fewer)."""
    if spec.choices:
        return list(spec.choices[:keys])
    if spec.type == "int":
        low = int(spec.min) if spec.min is not None else 0
        return list(range(low, low + keys))
    if spec.pattern and pool is not None:
        return list(dict.fromkeys(pool))[:keys]
    high = spec.max_length if spec.max_length is not None else 64
    width = len(str(keys - 1))
    values = [f"{spec.name}-{i:0{width}d}"[-high:] for i in range(keys)]
    return [v + "x" * ((spec.min_length or 0) - len(v)) for v in values]


def _sometimes_missing(values: list[Any], rng: np.random.Generator) -> list[Any]:
    draw = rng.random(len(values))
    missing = draw >= PRESENT
    if not missing.any():
        return values
    absent = draw >= (1 + PRESENT) / 2
    out = list(values)
    for row in np.flatnonzero(missing).tolist():
        out[row] = _ABSENT if absent[row] else None
    return out
