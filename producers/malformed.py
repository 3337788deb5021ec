"""Malformed records: each kind is a way a real producer gets a record wrong.

Every kind is built from a clean event so that it looks like its neighbours, and every one must
become a dead letter at the consumer (:mod:`pipeline.core.events.decode` rejects it): the ground
truth labels it ``{"malformed": "<kind>"}``.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from pipeline.core.events.schema import EventType

#: Oversized records: too big to be an event (the consumer's limit is 256 KiB), small enough
#: for a Kinesis record (1 MiB), and no bigger than that (each costs a shard 0.3 s of its
#: 1 MiB/s); the consumer keeps their raw bytes as an S3 object.
OVERSIZED_BYTES = 300_000
#: Longer than any name field may be (the schema's ``max_length`` is 128).
OVERLONG_CHARS = 300

#: An event time in the year 2200: a broken clock (the consumer accepts [2000, 2100)).
ABSURD_TIME_MS = 7_258_118_400_000

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _invalid_json(data: bytes, etype: EventType) -> bytes:
    return data[: max(1, len(data) // 2)]


def _invalid_utf8(data: bytes, etype: EventType) -> bytes:
    return data[:-1] + b',"note":"\xc3\x28"}'


def _missing_field(data: bytes, etype: EventType) -> bytes:
    event = _decode(data)
    del event[etype.id_field]
    return _encode(event)


def _mistyped_field(data: bytes, etype: EventType) -> bytes:
    event = _decode(data)
    time = event[etype.time_field]
    event[etype.time_field] = len(time) if isinstance(time, str) else str(time)
    return _encode(event)


def _absurd_value(data: bytes, etype: EventType) -> bytes:
    event = _decode(data)
    event[etype.time_field] = etype.time_value(ABSURD_TIME_MS)
    return _encode(event)


def _overlong_field(data: bytes, etype: EventType) -> bytes:
    event = _decode(data)
    event[_bounded_string(etype)] = "x" * OVERLONG_CHARS
    return _encode(event)


def _bounded_string(etype: EventType) -> str:
    """A string field with a length bound (the partition key's when it has one)."""
    bounded = [
        f.name for f in etype.field_specs if (f.max_length or OVERLONG_CHARS) < OVERLONG_CHARS
    ]
    if etype.partition_key_field in bounded:
        return etype.partition_key_field
    return bounded[0]


def _duplicate_key(data: bytes, etype: EventType) -> bytes:
    return data[:-1] + b"," + _encode({etype.id_field: "again"})[1:]


def _oversized(data: bytes, etype: EventType) -> bytes:
    return data[:-1] + b',"padding":"' + b"x" * OVERSIZED_BYTES + b'"}'


_BUILDERS: dict[str, Callable[[bytes, EventType], bytes]] = {
    "invalid_json": _invalid_json,
    "invalid_utf8": _invalid_utf8,
    "missing_field": _missing_field,
    "mistyped_field": _mistyped_field,
    "absurd_value": _absurd_value,
    "overlong_field": _overlong_field,
    "duplicate_key": _duplicate_key,
    "oversized": _oversized,
}
MALFORMED_KINDS = tuple(_BUILDERS)


def malformed_kinds(etype: EventType) -> tuple[str, ...]:
    """The kinds that make a record of ``etype`` invalid (an overlong field needs a bound)."""
    if any((f.max_length or OVERLONG_CHARS) < OVERLONG_CHARS for f in etype.field_specs):
        return MALFORMED_KINDS
    return tuple(kind for kind in MALFORMED_KINDS if kind != "overlong_field")


def malformed(data: bytes, kind: str, etype: EventType) -> bytes:
    """The clean record ``data`` made malformed in the given way."""
    build = _BUILDERS.get(kind)
    if build is None:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return build(data, etype)
