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

    Every record is validated against the whole schema; only the ``columns`` the caller needs
    (default: all fields) are materialised as Arrow columns.
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
        wanted = set(columns) if columns is not None else set(etype.fields)
        wanted.add(etype.time_field)
        self._fields = [f for f in etype.arrow_schema if f.name in wanted]
        self._time_index = [f.name for f in self._fields].index(etype.time_field)
        info = msgspec.inspect.type_info(etype.struct)
        self._required = [f.name for f in info.fields if f.required]
        self._optional = [f.name for f in info.fields if not f.required]
        self._string_fields = [f.name for f in etype.arrow_schema if f.type == pa.string()]
        self._schema = pa.schema(self._fields)
        self._schema = self._schema.append(pa.field(EVENT_TIME, pa.int64(), nullable=False))
        self._schema = self._schema.append(pa.field(RECORD_INDEX, pa.int32(), nullable=False))

    def decode(self, payloads: Sequence[bytes]) -> DecodedBatch:
        decode = self._decode
        joined = b"\n".join(payloads)
        if payloads and max(map(len, payloads)) > self.max_bytes:
            structs, indices, rejects = self._decode_one_by_one(payloads)
            joined = b"\n".join(payloads[i] for i in indices)
            return self._finish(payloads, structs, indices, rejects, joined)
        try:
            # the whole payload must be UTF-8, unknown fields included (msgspec skips those);
            # a newline between payloads keeps a sequence split across two of them invalid
            joined.decode("utf-8")
            structs = [decode(p) for p in payloads]
            indices = list(range(len(payloads)))
            rejects: list[Reject] = []
        except (UnicodeDecodeError, msgspec.DecodeError, RecursionError):  # incl. ValidationError
            structs, indices, rejects = self._decode_one_by_one(payloads)
            joined = b"\n".join(payloads[i] for i in indices)
        return self._finish(payloads, structs, indices, rejects, joined)

    def _finish(
        self,
        payloads: Sequence[bytes],
        structs: list[msgspec.Struct],
        indices: list[int],
        rejects: list[Reject],
        joined: bytes,
    ) -> DecodedBatch:
        values = {name: list(map(attrgetter(name), structs)) for name in self.etype.fields}
        duplicated = self._duplicate_keys(payloads, structs, indices, joined, values)
        if duplicated:
            rejects = sorted(rejects + duplicated, key=lambda r: r.index)
            bad = {r.index for r in duplicated}
            keep = [i not in bad for i in indices]
            indices = list(compress(indices, keep))
            values = {name: list(compress(column, keep)) for name, column in values.items()}
        return DecodedBatch(self._columns(values, np.asarray(indices, dtype=np.int32)), rejects)

    def _duplicate_keys(
        self,
        payloads: Sequence[bytes],
        structs: list[msgspec.Struct],
        indices: list[int],
        joined: bytes,
        values: dict[str, list[Any]],
    ) -> list[Reject]:
        """Records with a key twice (at any depth): the last value would silently win.

        Screened in bulk: every ``:`` of compact JSON is a key's (required fields, non-null
        optional ones, explicit nulls) or inside a string value. When the batch's count says
        otherwise (other layouts, nested unknown fields, a duplicate), records are parsed again
        one by one with a duplicate-detecting parser.
        """
        if not structs:
            return []
        expected = len(structs) * len(self._required) + joined.count(b":null")
        for name in self._optional:
            expected += len(structs) - values[name].count(None)
        for name in self._string_fields:
            expected += "".join(filter(None, values[name])).count(":")
        if joined.count(b":") == expected:
            return []
        rejects = []
        for struct, index in zip(structs, indices, strict=True):
            payload = payloads[index]
            own = len(self._required) + payload.count(b":null")
            for name in self._optional:
                own += getattr(struct, name) is not None
            for name in self._string_fields:
                own += (getattr(struct, name) or "").count(":")
            if payload.count(b":") == own:
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

    def _columns(self, values: dict[str, list[Any]], indices: np.ndarray) -> pa.Table:
        etype = self.etype
        arrays = [pa.array(values[f.name], type=f.type) for f in self._fields]
        time_column = arrays[self._time_index]
        if etype.time_unit_ms == 1:
            event_time = time_column
        else:
            seconds = time_column.to_numpy(zero_copy_only=False)
            event_time = pa.array(np.rint(seconds * etype.time_unit_ms).astype(np.int64))
        arrays += [event_time, pa.array(indices, type=pa.int32())]
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
