"""Raw Kinesis records, the unit every engine hands to the core.

A record is addressed by its shard, sequence number and sub-sequence number (non-zero only for
user records packed by KPL aggregation). Sequence numbers are decimal strings of up to 128 bits;
compare them with :func:`sequence_key`, never as strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Self, TypeVar, overload

import numpy as np


class RawRecord(NamedTuple):
    """One user record as delivered by Kinesis (after KPL de-aggregation)."""

    data: bytes
    partition_key: str
    sequence_number: str
    sub_sequence_number: int = 0
    approximate_arrival_ms: int = 0

    @property
    def position(self) -> tuple[int, int]:
        return sequence_key(self.sequence_number), self.sub_sequence_number


#: The columns of a :class:`RecordBatch`'s rows: spans (start, end) in its buffer of the data,
#: partition key and sequence number, then the sub-sequence number and the arrival time.
DATA, KEY, SEQUENCE, SUB_SEQUENCE, ARRIVAL = 0, 2, 4, 6, 7

T = TypeVar("T")


class BufferRows(Sequence[T]):
    """Items as rows of an int64 array over one uint8 buffer: read in bulk by the core (one
    object per batch, none per item); an item is built when asked for. Slices and
    :meth:`take` share the buffer."""

    __slots__ = ("buffer", "rows")

    def __init__(self, buffer: np.ndarray, rows: np.ndarray) -> None:
        #: uint8; int64 (n, columns), C-contiguous
        self.buffer, self.rows = buffer, rows

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Self: ...
    def __getitem__(self, index: int | slice) -> T | Self:
        if isinstance(index, slice):
            return type(self)(self.buffer, self.rows[index])
        return self._item(self.rows[index].tolist())

    def __iter__(self) -> Iterator[T]:
        return (self[i] for i in range(len(self)))

    def take(self, rows: np.ndarray) -> Self:
        """The items at ``rows``, in their order."""
        return type(self)(self.buffer, self.rows[rows])

    def _item(self, row: list[int]) -> T:
        raise NotImplementedError


class Payloads(BufferRows[bytes]):
    """Payloads as spans of one buffer: rows (start, end). An item is a new ``bytes``."""

    __slots__ = ()

    def _item(self, row: list[int]) -> bytes:
        return self.buffer[row[0] : row[1]].tobytes()


class RecordBatch(BufferRows[RawRecord]):
    """A batch of records as columns over one buffer, as the KCL child frames a
    ``processRecords`` line (consumers/kcl/framing.py): no Python object per record.

    A sequence of :class:`RawRecord` (an item is built when asked for: a dead letter, a late
    event, a sink that iterates); its rows are DATA, KEY, SEQUENCE, SUB_SEQUENCE, ARRIVAL, and
    the core reads its payloads and arrival times in bulk.
    """

    __slots__ = ()

    @classmethod
    def of(cls, records: Iterable[RawRecord]) -> RecordBatch:
        """The batch of ``records`` (a source holding raw records; the tests)."""
        parts: list[bytes] = []
        rows: list[list[int]] = []
        used = 0
        for record in records:
            row = []
            key, sequence = record.partition_key.encode(), record.sequence_number.encode()
            for part in (record.data, key, sequence):
                parts.append(part)
                row += [used, used + len(part)]
                used += len(part)
            rows.append([*row, record.sub_sequence_number, record.approximate_arrival_ms])
        buffer = np.frombuffer(b"".join(parts), dtype=np.uint8)
        return cls(buffer, np.array(rows, dtype=np.int64).reshape(-1, ARRIVAL + 1))

    def _item(self, row: list[int]) -> RawRecord:
        text = self.buffer
        return RawRecord(
            text[row[DATA] : row[DATA + 1]].tobytes(),
            text[row[KEY] : row[KEY + 1]].tobytes().decode(),
            text[row[SEQUENCE] : row[SEQUENCE + 1]].tobytes().decode(),
            row[SUB_SEQUENCE],
            row[ARRIVAL],
        )

    @property
    def payloads(self) -> Payloads:
        return Payloads(self.buffer, np.ascontiguousarray(self.rows[:, DATA : DATA + 2]))

    @property
    def arrivals(self) -> np.ndarray:
        """Each record's arrival time in ms (0: unknown), a new array."""
        return self.rows[:, ARRIVAL].copy()


def sequence_key(sequence_number: str) -> int:
    """Kinesis sequence numbers order as integers (``"10" > "9"``)."""
    return int(sequence_number)


@dataclass(frozen=True)
class Checkpoint:
    """A position in a shard: everything at or before it has been fully processed."""

    sequence_number: str
    sub_sequence_number: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return sequence_key(self.sequence_number), self.sub_sequence_number

    @classmethod
    def of(cls, record: RawRecord) -> Checkpoint:
        return cls(record.sequence_number, record.sub_sequence_number)

    def __str__(self) -> str:
        if self.sub_sequence_number:
            return f"{self.sequence_number}/{self.sub_sequence_number}"
        return self.sequence_number
