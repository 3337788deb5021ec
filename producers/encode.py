"""Vectorised JSON encoding: a chunk of events becomes its records column by column.

Encoding one event at a time (build a dict, then ``json.dumps``) costs microseconds of Python per
event. Here a chunk is laid out as a byte matrix, one row per event: the literal text of the
layout is written once into a reusable template, and each field is filled for the whole column
with numpy (digits and decimals come from lookup tables). Variable-width fields are padded with
NUL bytes, which one ``bytes.replace`` removes, and one ``split`` cuts the rows into records.
The output is compact JSON; decimals are written in their shortest form (``21.3``, ``-0.5``,
``100.0``), as ``json.dumps`` writes the same values rounded to two places.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_FILL = b"\x00"
_NEWLINE = b"\n"


def _table(texts: Sequence[bytes]) -> np.ndarray:
    """Texts as rows of a NUL-padded byte matrix."""
    joined = b"".join(texts)
    if _FILL in joined or _NEWLINE in joined:
        raise ValueError("a JSON text cannot hold NUL or a raw newline")
    width = max((len(t) for t in texts), default=1) or 1
    return np.array(texts, dtype=f"S{width}").view(np.uint8).reshape(len(texts), width)


_TRIPLES = _table([b"%03d" % i for i in range(1000)])
_HEX_PAIRS = _table([b"%02x" % i for i in range(256)]).copy().view(np.uint16).ravel()
_NULL = np.frombuffer(b"null", np.uint8)


def decimal_text(hundredths: int) -> bytes:
    """``2130`` -> ``b"21.3"``: the shortest text of a value with two decimals."""
    whole, part = divmod(abs(hundredths), 100)
    fraction = f"{part:02d}".rstrip("0") or "0"
    return f"{'-' if hundredths < 0 else ''}{whole}.{fraction}".encode()


@functools.cache
def _decimals(low: int, high: int) -> np.ndarray:
    return _table([decimal_text(h) for h in range(low, high + 1)])


@dataclass(frozen=True)
class Choice:
    """One of a fixed list of texts (already JSON-escaped), by index."""

    texts: tuple[bytes, ...]

    @functools.cached_property
    def table(self) -> np.ndarray:
        return _table(self.texts)

    @property
    def width(self) -> int:
        return int(self.table.shape[1])

    def fill(self, out: np.ndarray, index: np.ndarray) -> None:
        out[:] = self.table[index]


@dataclass(frozen=True)
class Digits:
    """Non-negative integers below ``10**width``, zero-padded to ``width`` digits (a JSON number
    only when the first digit cannot be 0, like a 13-digit epoch in ms; else inside a string or
    after a decimal point)."""

    width: int

    def fill(self, out: np.ndarray, values: np.ndarray) -> None:
        values = values.astype(np.int64)
        if len(values) and (values.min() < 0 or values.max() >= 10**self.width):
            raise ValueError(f"a value does not fit in {self.width} digits")
        high, low = np.divmod(values, 1000)
        out[:, -min(3, self.width) :] = _TRIPLES[low][:, 3 - min(3, self.width) :]
        width = self.width - 3
        if width <= 0:
            return
        if len(values):  # epochs: the high digits take a few values in a chunk, use a table
            first, span = int(high.min()), int(high.max() - high.min()) + 1
            if span <= len(values) // 4:
                out[:, :width] = _table([b"%0*d" % (width, first + i) for i in range(span)])[
                    high - first
                ]
                return
        Digits(width).fill(out[:, :width], high)


@dataclass(frozen=True)
class Hex:
    """Non-negative integers as ``width`` lowercase hex digits (``width`` even, at most 16)."""

    width: int

    def fill(self, out: np.ndarray, values: np.ndarray) -> None:
        octets = values.astype(">u8").view(np.uint8).reshape(len(values), 8)
        pairs = _HEX_PAIRS[octets[:, 8 - self.width // 2 :]]
        out[:] = pairs.view(np.uint8).reshape(len(values), self.width)


@dataclass(frozen=True)
class Decimal:
    """Integers in hundredths within ``[low, high]`` as decimals; ``null`` where masked."""

    low: int
    high: int

    @property
    def width(self) -> int:
        return int(_decimals(self.low, self.high).shape[1])

    def fill(self, out: np.ndarray, values: np.ndarray, null: np.ndarray | None = None) -> None:
        if null is not None:
            values = np.where(null, self.low, values)
        if len(values) and (values.min() < self.low or values.max() > self.high):
            raise ValueError(f"a value is outside [{self.low}, {self.high}] hundredths")
        out[:] = _decimals(self.low, self.high)[values - self.low]
        if null is not None and null.any():
            out[null] = 0
            out[null, : len(_NULL)] = _NULL


Field = Choice | Digits | Hex | Decimal


class JsonLayout:
    """The records of one event shape: literal text between typed fields.

    ``JsonLayout([b'{"n":', Digits(3), b"}"]).encode([np.array([7])]) == [b'{"n":007}']``;
    a :class:`Decimal` column may be passed as ``(values, null_mask)``.
    """

    def __init__(self, parts: Sequence[bytes | Field]) -> None:
        self._literals: list[tuple[slice, np.ndarray]] = []
        self._fields: list[tuple[slice, Field]] = []
        position = 0
        for part in [*parts, _NEWLINE]:
            if isinstance(part, bytes):
                text = np.frombuffer(part, np.uint8)
                self._literals.append((slice(position, position + len(text)), text))
                position += len(text)
            else:
                self._fields.append((slice(position, position + part.width), part))
                position += part.width
        self.width = position
        self._template = np.zeros((0, self.width), np.uint8)

    def encode(self, columns: Sequence[np.ndarray | tuple[np.ndarray, np.ndarray]]) -> list[bytes]:
        """One record per row of the columns (one column per field, in layout order)."""
        if len(columns) != len(self._fields):
            raise ValueError(f"{len(self._fields)} columns expected, got {len(columns)}")
        rows = len(columns[0][0] if isinstance(columns[0], tuple) else columns[0])
        if not rows:
            return []
        matrix = self._rows(rows)
        for (where, field), column in zip(self._fields, columns, strict=True):
            if isinstance(column, tuple):
                if not isinstance(field, Decimal):
                    raise TypeError("only Decimal fields take a null mask")
                field.fill(matrix[:, where], *column)
            else:
                field.fill(matrix[:, where], column)
        records = matrix.tobytes().replace(_FILL, b"").split(_NEWLINE)
        records.pop()  # after the last newline
        return records

    def _rows(self, rows: int) -> np.ndarray:
        """The template's first ``rows`` rows (literals in place), grown when needed."""
        if len(self._template) < rows:
            self._template = np.zeros((max(rows, 2 * len(self._template)), self.width), np.uint8)
            for where, text in self._literals:
                self._template[:, where] = text
        return self._template[:rows]
