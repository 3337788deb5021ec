"""Raw Kinesis records, the unit every engine hands to the core.

A record is addressed by its shard, sequence number and sub-sequence number (non-zero only for
user records packed by KPL aggregation). Sequence numbers are decimal strings of up to 128 bits;
compare them with :func:`sequence_key`, never as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


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
