"""Batch decoding: raw payloads -> an Arrow table of valid events + rejects with reasons.

Every payload goes through the same strict ``msgspec`` decoder whatever else is in its batch, so
a record's validity never depends on its neighbours (results must not change with the batch
split). The common case, a batch with no bad record, is one list comprehension in C; a batch
with bad records is decoded again one record at a time to name each failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from pipeline.core.events.schema import EventType

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
        self._required = [f.name for f in etype.field_specs if f.required]
        self._optional = [f.name for f in etype.field_specs if not f.required]
        #: fields whose decoded value is the JSON string itself (their colons are the raw ones)
        self._string_fields = [f.name for f in etype.arrow_schema if f.type == pa.string()]
        schema = pa.schema(self._fields)
        schema = schema.append(pa.field(EVENT_TIME, pa.int64(), nullable=False))
        self._schema = schema.append(pa.field(RECORD_INDEX, pa.int32(), nullable=False))

    def decode(self, payloads: Sequence[bytes]) -> DecodedBatch:
        decode = self._decode
        if payloads and max(map(len, payloads)) > self.max_bytes:
            return self._finish(payloads, *self._decode_one_by_one(payloads))
        try:
            # the whole payload must be UTF-8, unknown fields included (msgspec skips those);
            # a newline between payloads keeps a sequence split across two of them invalid
            b"\n".join(payloads).decode("utf-8")
            structs = [decode(p) for p in payloads]
        except (UnicodeDecodeError, msgspec.DecodeError, RecursionError):  # incl. ValidationError
            return self._finish(payloads, *self._decode_one_by_one(payloads))
        return self._finish(payloads, structs, list(range(len(payloads))), [])

    def _finish(
        self,
        payloads: Sequence[bytes],
        structs: list[msgspec.Struct],
        indices: list[int],
        rejects: list[Reject],
    ) -> DecodedBatch:
        values = {name: list(map(attrgetter(name), structs)) for name in self.etype.fields}
        later = self._duplicate_keys(payloads, indices, values)
        times, bad_times = self.etype.event_times_ms(values[self.etype.time_field])
        bad_rows = {r.index for r in later}
        later += [
            Reject(indices[row], reason)
            for row, reason in bad_times
            if indices[row] not in bad_rows
        ]
        if later:
            rejects = sorted(rejects + later, key=lambda r: r.index)
            bad = {r.index for r in later}
            keep = [i not in bad for i in indices]
            indices = list(compress(indices, keep))
            values = {name: list(compress(column, keep)) for name, column in values.items()}
            times = times[np.asarray(keep, dtype=bool)]
        return DecodedBatch(self._columns(values, times, indices), rejects)

    def _duplicate_keys(
        self, payloads: Sequence[bytes], indices: list[int], values: dict[str, list[Any]]
    ) -> list[Reject]:
        """Records with a key twice (at any depth): the last value would silently win.

        Screened in bulk, soundly: in valid JSON without a backslash, every ``:`` is a key's or
        inside a string. The struct tells how many declared fields each record holds (an absent
        optional field is ``UNSET``, an explicit null ``None``) and the colons of their string
        values; a record whose colon count is exactly that has no other key, so no key twice.
        Records with a backslash (escapes), unknown fields or a count that differs are parsed
        again one by one with a duplicate-detecting parser.
        """
        if not indices:
            return []
        present = [len(indices)] * len(self._required)
        present += [len(indices) - values[name].count(UNSET) for name in self._optional]
        expected = sum(present) + sum(
            "".join(filter(None, values[name])).count(":") for name in self._string_fields
        )
        joined = b"".join(payloads[i] for i in indices)
        if b"\\" not in joined and joined.count(b":") == expected:
            return []
        rejects = []
        for row, index in enumerate(indices):
            payload = payloads[index]
            if b"\\" not in payload and payload.count(b":") == self._keys_and_colons(values, row):
                continue
            try:
                key = _duplicated_key(payload)
            except RecursionError:
                rejects.append(Reject(index, "invalid JSON: nested too deeply"))
                continue
            if key is not None:
                rejects.append(
                    Reject(index, f"duplicate key {key!r}: the value would be ambiguous")
                )
        return rejects

    def _keys_and_colons(self, values: dict[str, list[Any]], row: int) -> int:
        """The colons of one record with only its declared fields, each once."""
        own = len(self._required)
        own += sum(values[name][row] is not UNSET for name in self._optional)
        return own + sum((values[name][row] or "").count(":") for name in self._string_fields)

    def _decode_one_by_one(
        self, payloads: Sequence[bytes]
    ) -> tuple[list[msgspec.Struct], list[int], list[Reject]]:
        decode = self._decode
        structs: list[msgspec.Struct] = []
        indices: list[int] = []
        rejects: list[Reject] = []
        for i, payload in enumerate(payloads):
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
                indices.append(i)
            except msgspec.ValidationError as exc:  # a subclass of DecodeError: test it first
                rejects.append(Reject(i, f"schema violation: {exc}"))
            except msgspec.DecodeError as exc:
                rejects.append(Reject(i, f"invalid JSON: {exc}"))
            except RecursionError:
                rejects.append(Reject(i, "invalid JSON: nested too deeply"))
        return structs, indices, rejects

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
