"""Batch decoding: raw payloads -> an Arrow table of valid events + rejects with reasons.

A compiled scanner (:class:`pipeline.core._kernels.RecordScanner`, specialised for the declared
type at start-up) turns the records it can prove valid straight into columns: a JSON object
whose declared fields hold values their struct field accepts, each key once, unknown fields
scalar, no escapes, valid UTF-8. Every other record (a bad one, or one with escapes, nested
unknown fields, an oversized payload...) goes to the strict ``msgspec`` decoder one by one,
which decides it and names its failure; patterns and choices are checked on the distinct values
of their columns, the failing records going the same way. A record's validity never depends on
its neighbours (results must not change with the batch split).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core._kernels import RecordScanner
from pipeline.core.events.schema import (
    MAX_EVENT_TIME_MS,
    MIN_EVENT_TIME_MS,
    EventType,
    FieldSpec,
)
from pipeline.core.records import Payloads

#: Payloads larger than this are not events (dead-lettered as oversized): an event's lake row
#: must fit a Firehose record (1,000 KiB) with room to spare.
MAX_EVENT_BYTES = 256 * 1024
#: Column added to every decoded batch: the event time in int epoch milliseconds (UTC).
EVENT_TIME = "event_time_ms"
#: Column added to every decoded batch: the record's index in the batch it came from.
RECORD_INDEX = "record_index"

UNSET = msgspec.UNSET


@dataclass(frozen=True)
class Reject:
    """A record that is not a valid event: its index in the batch and why."""

    index: int
    reason: str


@dataclass(frozen=True)
class DecodedBatch:
    """Valid events as columns (in input order) and the rejected records."""

    events: pa.Table
    rejects: list[Reject]


class Decoder:
    """Decodes batches of one event type; build once, reuse for every batch.

    Every record is validated against the whole declaration; only the ``columns`` the caller
    needs (default: every field a job may read) are materialised as Arrow columns.
    """

    def __init__(
        self,
        etype: EventType,
        columns: Sequence[str] | None = None,
        max_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.etype = etype
        self.max_bytes = max_bytes
        self._decode = msgspec.json.Decoder(etype.struct).decode
        wanted = set(etype.fields) if columns is None else set(columns)
        self._fields = [
            f for f in etype.arrow_schema if f.name in wanted and etype.usable_in_jobs(f.name)
        ]
        #: msgspec's checks left to the distinct values of a column: patterns, choices
        self._screened = [f for f in etype.field_specs if f.pattern or f.choices]
        self._patterns = {f.name: re.compile(f.pattern) for f in self._screened if f.pattern}
        text_time = etype.time_format == "iso8601"
        outputs = {f.name for f in self._fields} | {f.name for f in self._screened}
        outputs |= {etype.time_field} if text_time else set()
        specs = [_scan_spec(etype, f, f.name in outputs) for f in etype.field_specs]
        self._outputs = [(s[0], s[1]) for s in specs if s[-1]]
        self._scanner = RecordScanner(
            specs, etype.fields.index(etype.time_field), _TIME_UNIT[etype.time_format]
        )
        schema = pa.schema(self._fields)
        schema = schema.append(pa.field(EVENT_TIME, pa.int64(), nullable=False))
        self._schema = schema.append(pa.field(RECORD_INDEX, pa.int32(), nullable=False))

    def decode(self, payloads: Sequence[bytes]) -> DecodedBatch:
        """``payloads``: any sequence; a list, or :class:`Payloads` spans, is read in place."""
        if not isinstance(payloads, list | Payloads):
            payloads = list(payloads)
        columns, times, rows, slow = self._scanner.scan(payloads, self.max_bytes)
        arrays = {
            name: _arrow(kind, *parts)
            for (name, kind), parts in zip(self._outputs, columns, strict=True)
        }
        bad = self._screen(arrays, len(rows))  # msgspec rejects these: it names why
        dropped = bad
        rejects: list[Reject] = []
        if times is None:  # text times: parsed and range-checked in bulk
            times, bad_times = self.etype.event_times_ms(arrays[self.etype.time_field].to_pylist())
            rejected = [(row, reason) for row, reason in bad_times if not bad[row]]
            rejects = [Reject(int(rows[row]), reason) for row, reason in rejected]
            dropped = bad.copy()
            dropped[[row for row, _ in rejected]] = True
        arrays |= {EVENT_TIME: pa.array(times, pa.int64()), RECORD_INDEX: pa.array(rows)}
        table = pa.Table.from_arrays([arrays[f.name] for f in self._schema], schema=self._schema)
        if dropped.any():
            table = table.filter(~dropped)
        slow = sorted(slow + rows[bad].tolist())
        if slow:
            part, slow_rejects = self._decode_slow(payloads, slow)
            rejects = sorted(rejects + slow_rejects, key=_index)
            table = pa.concat_tables([table, part])
            table = table.take(pc.sort_indices(table.column(RECORD_INDEX)))
        return DecodedBatch(table, rejects)

    def _screen(self, arrays: dict[str, pa.Array], rows: int) -> np.ndarray:
        """Rows whose value breaks its field's pattern or choices (nulls: absent, fine)."""
        bad = np.zeros(rows, dtype=bool)
        for spec in self._screened:
            column = arrays[spec.name]
            if spec.choices:
                ok = pc.or_kleene(pc.is_in(column, pa.array(spec.choices)), pc.is_null(column))
            else:
                search = self._patterns[spec.name].search
                failing = [v for v in pc.unique(column).to_pylist() if v is not None]
                failing = [v for v in failing if not search(v)]
                if not failing:
                    continue
                ok = pc.invert(pc.is_in(column, pa.array(failing, pa.string())))
            bad |= ~ok.to_numpy(zero_copy_only=False)
        return bad

    def _decode_slow(
        self, payloads: Sequence[bytes], indices: list[int]
    ) -> tuple[pa.Table, list[Reject]]:
        """The records the scanner left, decided one by one by msgspec (and a duplicate-key
        parser: msgspec keeps the last of a key twice)."""
        structs, kept, rejects = self._decode_one_by_one(payloads, indices)
        values = {name: [getattr(s, name) for s in structs] for name in self.etype.fields}
        later = []
        for row, index in enumerate(kept):
            try:
                key = _duplicated_key(payloads[index])
            except RecursionError:
                later.append((row, "invalid JSON: nested too deeply"))
                continue
            if key is not None:
                later.append((row, f"duplicate key {key!r}: the value would be ambiguous"))
        times, bad_times = self.etype.event_times_ms(values[self.etype.time_field])
        bad_rows = {row for row, _ in later}
        later += [(row, reason) for row, reason in bad_times if row not in bad_rows]
        if later:
            rejects = sorted(rejects + [Reject(kept[r], why) for r, why in later], key=_index)
            keep = np.ones(len(kept), dtype=bool)
            keep[[row for row, _ in later]] = False
            kept = list(compress(kept, keep.tolist()))
            values = {
                name: list(compress(column, keep.tolist())) for name, column in values.items()
            }
            times = times[keep]
        return self._columns(values, times, kept), rejects

    def _decode_one_by_one(
        self, payloads: Sequence[bytes], indices: list[int]
    ) -> tuple[list[msgspec.Struct], list[int], list[Reject]]:
        decode = self._decode
        structs: list[msgspec.Struct] = []
        kept: list[int] = []
        rejects: list[Reject] = []
        for i in indices:
            payload = payloads[i]
            if len(payload) > self.max_bytes:
                rejects.append(
                    Reject(i, f"oversized payload: {len(payload)} bytes > {self.max_bytes}")
                )
                continue
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                rejects.append(Reject(i, f"invalid UTF-8: {exc.reason} at byte {exc.start}"))
                continue
            try:
                structs.append(decode(payload))
                kept.append(i)
            except msgspec.ValidationError as exc:  # a subclass of DecodeError: test it first
                rejects.append(Reject(i, f"schema violation: {exc}"))
            except msgspec.DecodeError as exc:
                rejects.append(Reject(i, f"invalid JSON: {exc}"))
            except RecursionError:
                rejects.append(Reject(i, "invalid JSON: nested too deeply"))
        return structs, kept, rejects

    def _columns(
        self, values: dict[str, list[Any]], times: np.ndarray, indices: list[int]
    ) -> pa.Table:
        arrays = []
        for f in self._fields:
            column = values[f.name]
            if not f.nullable or not column.count(UNSET):
                arrays.append(pa.array(column, type=f.type))
            else:  # absent optional fields are null, as explicit nulls
                arrays.append(pa.array([None if v is UNSET else v for v in column], type=f.type))
        arrays += [pa.array(times, type=pa.int64()), pa.array(indices, type=pa.int32())]
        return pa.Table.from_arrays(arrays, schema=self._schema)


#: The scanner's time unit per format: ms per unit (1, 1000: µs), 0: seconds, -1: text.
_TIME_UNIT = {"epoch_ms": 1, "epoch_us": 1000, "epoch_s": 0, "iso8601": -1}
#: What the struct accepts for the time field: (scanner type, low, high, high excluded).
_TIME_SPEC: dict[str, tuple[str, Any, Any]] = {
    "epoch_ms": ("int", MIN_EVENT_TIME_MS, MAX_EVENT_TIME_MS),
    "epoch_us": ("int", MIN_EVENT_TIME_MS * 1000, MAX_EVENT_TIME_MS * 1000),
    "epoch_s": ("float", MIN_EVENT_TIME_MS / 1000, MAX_EVENT_TIME_MS / 1000),
}


def _scan_spec(etype: EventType, spec: FieldSpec, output: bool) -> tuple[Any, ...]:
    """What the scanner checks of a field: the constraints of its struct field (schema.py)."""
    if spec.type == "timestamp" and etype.time_format in _TIME_SPEC:
        kind, low, high = _TIME_SPEC[etype.time_format]
        return (spec.name, kind, spec.required, low, high, True, None, None, output)
    if spec.type == "timestamp":  # ISO-8601: text, parsed in bulk after the scan
        return (spec.name, "string", spec.required, None, None, False, None, 64, output)
    if spec.choices:  # Literal: only the values (checked by Decoder._screen)
        kind = "string" if spec.type == "string" else "int"
        return (spec.name, kind, spec.required, None, None, False, None, None, output)
    return (
        spec.name,
        spec.type,
        spec.required,
        spec.min,
        spec.max,
        False,
        spec.min_length,
        spec.max_length,
        output,
    )


def _arrow(
    kind: str, values: np.ndarray, valid: np.ndarray, offsets: np.ndarray | None
) -> pa.Array:
    """A scanned column as an Arrow array (the scanner's buffers, not copied)."""
    rows = len(valid)
    nulls = rows - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    if kind == "string":
        buffers = [bitmap, pa.py_buffer(offsets), pa.py_buffer(values)]
    elif kind == "bool":
        buffers = [bitmap, pa.py_buffer(np.packbits(values, bitorder="little"))]
    else:
        buffers = [bitmap, pa.py_buffer(values)]
    return pa.Array.from_buffers(_ARROW[kind], rows, buffers, null_count=nulls)


_ARROW = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def _index(reject: Reject) -> int:
    return reject.index


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _duplicated_key(payload: bytes) -> str | None:
    try:
        json.loads(payload, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as found:
        return found.key
    return None


def decode_batch(etype: EventType, payloads: Sequence[bytes]) -> DecodedBatch:
    """One-shot convenience around :class:`Decoder`."""
    return Decoder(etype).decode(payloads)
