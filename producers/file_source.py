"""Real records from an NDJSON file (or standard input), sent as they are.

Each non-blank line is one record, its bytes unchanged (without the line break). Its partition
key is the value of the declared ``partition_key`` field (or the one given); its event time is read
as the consumer reads it, so that the writer keeps per-key order within the allowed lateness. A
line that is not a JSON object, or lacks a usable key (a string or number of 1 to 256
characters, as Kinesis requires), is still sent (the consumer dead-letters
what is not a valid event), under the key ``line-<number>``, and counted: nothing is skipped
silently. A line longer than a Kinesis record can hold stops the run with its line number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import msgspec
import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.events.schema import EventType
from producers.block import NO_TIME, Block

#: Lines per block handed to the writer.
BLOCK_LINES = 10_000
#: Kinesis's record limit (data and partition key) and partition-key limit.
MAX_RECORD_BYTES = 1024 * 1024
MAX_KEY_CHARS = 256


@dataclass
class FileCounts:
    """What the file held, for the run's summary."""

    records: int = 0
    not_json: int = 0  # not a JSON object: sent, the consumer dead-letters them
    no_key: int = 0  # no usable partition key: sent under ``line-<n>``
    blank: int = 0  # blank lines: not records


class FileSource:
    """The records of ``lines`` (a binary file object), a block at a time, in file order."""

    def __init__(
        self,
        etype: EventType,
        lines: IO[bytes],
        partition_key: str | None = None,
        name: str = "<input>",
    ) -> None:
        self.etype = etype
        self.lines = lines
        self.key_field = partition_key or etype.partition_key_field
        self.name = name
        self.counts = FileCounts()
        self._line = 0

    def blocks(self) -> Iterator[Block]:
        chunk: list[bytes] = []
        numbers: list[int] = []
        for raw in self.lines:
            self._line += 1
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                self.counts.blank += 1
                continue
            if len(line) > MAX_RECORD_BYTES - 256:
                raise PipelineError(
                    f"{self.name}:{self._line}: a line of {len(line)} bytes is too large for a "
                    f"Kinesis record (1 MiB with its key); {self.counts.records} records were "
                    "read before it"
                )
            chunk.append(line)
            numbers.append(self._line)
            if len(chunk) == BLOCK_LINES:
                yield self._block(chunk, numbers)
                chunk, numbers = [], []
        if chunk:
            yield self._block(chunk, numbers)

    def _block(self, lines: list[bytes], numbers: list[int]) -> Block:
        keys: list[str] = []
        times: list[object] = []
        timed: list[int] = []
        for offset, line in enumerate(lines):
            try:
                event = msgspec.json.decode(line)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                event = None
            if not isinstance(event, dict):
                self.counts.not_json += 1
                keys.append(f"line-{numbers[offset]}")
                continue
            key = event.get(self.key_field)
            if not isinstance(key, str | int | float) or not 0 < len(str(key)) <= MAX_KEY_CHARS:
                self.counts.no_key += 1
                key = f"line-{numbers[offset]}"
            keys.append(str(key))
            value = event.get(self.etype.time_field)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                times.append(value)
                timed.append(offset)
        self.counts.records += len(lines)
        return Block(lines, keys, self._event_times(lines, times, timed))

    def _event_times(self, lines: list[bytes], times: list[object], timed: list[int]) -> np.ndarray:
        """Each line's event time in ms as the consumer reads it (NO_TIME when it has none)."""
        ts = np.full(len(lines), NO_TIME, np.int64)
        if not timed:
            return ts
        expected = str if self.etype.time_format == "iso8601" else (int | float)
        usable = [i for i, t in zip(timed, times, strict=True) if isinstance(t, expected)]
        values = [t for t in times if isinstance(t, expected)]
        if not values:
            return ts
        try:
            ms, rejects = self.etype.event_times_ms(values)
        except (TypeError, ValueError, OverflowError):
            return ts
        good = np.ones(len(values), dtype=bool)
        good[[row for row, _ in rejects]] = False
        ts[np.asarray(usable, dtype=np.int64)[good]] = ms[good]
        return ts
