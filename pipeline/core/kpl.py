"""The KPL aggregated-record format: many user records in one Kinesis record.

Layout (as the Kinesis Producer Library writes it and the KCL reads it): the magic bytes
``F3 89 9A C2``, a protobuf ``AggregatedRecord`` (``repeated string partition_key_table = 1;
repeated string explicit_hash_key_table = 2; repeated Record records = 3``, each ``Record``
being ``uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2; bytes data
= 3; repeated Tag tags = 4``), then the MD5 digest of the protobuf bytes.

:func:`deaggregate` turns one Kinesis record into its user records, numbered by sub-sequence
number; a record without the magic, or with a broken protobuf or a wrong digest, is returned
unchanged as one ordinary record (as the KCL does), so the consumer dead-letters it rather than
crashing. The wire format is small enough to read and write by hand: no protobuf dependency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.core.records import RawRecord

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_BYTES = 16


class KplFormatError(ValueError):
    """The bytes are not a well-formed aggregated record."""


@dataclass(frozen=True)
class UserRecord:
    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None


# -- protobuf wire format ------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buffer: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(buffer):
            raise KplFormatError("truncated varint")
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise KplFormatError("varint too long")


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _fields(buffer: bytes) -> Iterable[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    position = 0
    while position < len(buffer):
        key, position = _read_varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _read_varint(buffer, position)
            yield number, value
        elif wire_type == 2:
            length, position = _read_varint(buffer, position)
            if position + length > len(buffer):
                raise KplFormatError("truncated field")
            yield number, buffer[position : position + length]
            position += length
        else:
            raise KplFormatError(f"unexpected wire type {wire_type}")


# -- aggregation ---------------------------------------------------------------------------------


def aggregate(records: list[UserRecord]) -> bytes:
    """One aggregated record holding ``records`` (the caller keeps it under 1 MiB)."""
    hash_keys = [r.explicit_hash_key for r in records]
    return encode_aggregate(
        [r.partition_key for r in records],
        [r.data for r in records],
        hash_keys if any(k is not None for k in hash_keys) else None,
    )


def encode_aggregate(
    keys: Sequence[str], data: Sequence[bytes], hash_keys: Sequence[str | None] | None = None
) -> bytes:
    """:func:`aggregate` from columns: the user records' partition keys, payloads and explicit
    hash keys (``None``: none has one)."""
    key_index: dict[str, int] = {}
    hash_index: dict[str, int] = {}
    parts: list[bytes] = []
    for row, (key, payload) in enumerate(zip(keys, data, strict=True)):
        head = b"\x08" + _short_varint(key_index.setdefault(key, len(key_index)))
        explicit = hash_keys[row] if hash_keys is not None else None
        if explicit is not None:
            head += b"\x10" + _short_varint(hash_index.setdefault(explicit, len(hash_index)))
        length = _short_varint(len(payload))
        inner = len(head) + 1 + len(length) + len(payload)
        parts += (b"\x1a", _short_varint(inner), head, b"\x1a", length, payload)
    table = [_field(1, k.encode()) for k in key_index] + [_field(2, k.encode()) for k in hash_index]
    message = b"".join(table + parts)
    return MAGIC + message + hashlib.md5(message).digest()


_VARINTS = [_varint(i) for i in range(1 << 14)]


def _short_varint(value: int) -> bytes:
    return _VARINTS[value] if value < 1 << 14 else _varint(value)


def deaggregate(record: RawRecord) -> list[RawRecord]:
    """The user records inside ``record`` (itself, alone, if it is not a valid aggregate)."""
    data = record.data
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + DIGEST_BYTES:
        return [record]
    message, digest = data[len(MAGIC) : -DIGEST_BYTES], data[-DIGEST_BYTES:]
    if hashlib.md5(message).digest() != digest:
        return [record]
    try:
        users = _parse(message)
    except (KplFormatError, UnicodeDecodeError, IndexError):
        return [record]
    return [
        RawRecord(
            user.data,
            user.partition_key,
            record.sequence_number,
            index,
            record.approximate_arrival_ms,
        )
        for index, user in enumerate(users)
    ]


def _parse(message: bytes) -> list[UserRecord]:
    keys: list[str] = []
    hash_keys: list[str] = []
    raw: list[bytes] = []
    for number, value in _fields(message):
        if number == 1 and isinstance(value, bytes):
            keys.append(value.decode("utf-8"))
        elif number == 2 and isinstance(value, bytes):
            hash_keys.append(value.decode("utf-8"))
        elif number == 3 and isinstance(value, bytes):
            raw.append(value)
        else:
            raise KplFormatError(f"unexpected field {number}")
    if not raw:
        raise KplFormatError("no records")
    users = []
    for inner in raw:
        key_index = hash_index = None
        data = None
        for number, value in _fields(inner):
            if number == 1 and isinstance(value, int):
                key_index = value
            elif number == 2 and isinstance(value, int):
                hash_index = value
            elif number == 3 and isinstance(value, bytes):
                data = value
        if key_index is None or data is None:
            raise KplFormatError("a record lacks its partition key or data")
        users.append(
            UserRecord(keys[key_index], data, None if hash_index is None else hash_keys[hash_index])
        )
    return users
