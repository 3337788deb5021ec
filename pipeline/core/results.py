"""What the core produces for the sinks: window results, late events and dead letters.

Every output carries a deterministic id (``result_id`` / ``record_id``) so that a replay after a
crash produces the same ids: DynamoDB overwrites the same item, and the lake's views count each
id once even though Firehose is append-only.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, overload

import numpy as np
import pyarrow as pa

from pipeline.core import _kernels
from pipeline.core.records import RawRecord, RecordBatch

if TYPE_CHECKING:
    from pipeline.core._kernels import SlotMetric
    from pipeline.core.windows.spec import WindowJob


class WindowResult(NamedTuple):
    """A closed window of one group: final metric values (a tuple: cheap to build in bulk)."""

    job: str
    window_start_ms: int
    window_end_ms: int
    group: tuple[tuple[str, Any], ...]
    metrics: tuple[tuple[str, Any], ...]
    #: The metrics' mergeable states: this shard's part of the window (see windows.aggregates)
    states: tuple[Any, ...] = ()

    @property
    def result_id(self) -> str:
        """The same job, window and group always have the same id."""
        group = ",".join(f"{k}={v}" for k, v in self.group)
        return f"{self.job}|{self.window_start_ms}|{group}"


class ClosedWindows(Sequence[WindowResult]):
    """The windows of one job closed together, as columns: the compiled core closes them by the
    hundred thousand, and a row becomes a :class:`WindowResult` (some twenty objects) only when
    read as one. Readers of many rows take the columns (:meth:`group_column`,
    :meth:`metric_column`), as a database's rows are fetched."""

    __slots__ = ("_groups", "_metrics", "group_by", "job", "size_ms", "window_starts")

    def __init__(
        self,
        job: str,
        size_ms: int,
        window_starts: list[int],
        group_by: tuple[str, ...],
        groups: list[list[Any]],
        metrics: list[SlotMetric],
    ) -> None:
        self.job, self.size_ms, self.window_starts = job, size_ms, window_starts
        self.group_by, self._groups, self._metrics = group_by, groups, metrics

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(metric.name for metric in self._metrics)

    def group_column(self, name: str) -> list[Any]:
        """Every row's value of the group-by field ``name``."""
        return self._groups[self.group_by.index(name)]

    def metric_column(self, name: str) -> list[Any]:
        """Every row's value of the metric ``name``."""
        return self._metrics[self.metric_names.index(name)].final_values()

    def __len__(self) -> int:
        return len(self.window_starts)

    @overload
    def __getitem__(self, index: int) -> WindowResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[WindowResult]: ...
    def __getitem__(self, index: int | slice) -> WindowResult | list[WindowResult]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start = self.window_starts[index]  # IndexError past the end, as a list
        row = index % len(self)
        parts = [metric.row(row) for metric in self._metrics]
        return WindowResult(
            self.job,
            start,
            start + self.size_ms,
            tuple(
                (name, values[row])
                for name, values in zip(self.group_by, self._groups, strict=True)
            ),
            tuple((m.name, value) for m, (_, value) in zip(self._metrics, parts, strict=True)),
            tuple(state for state, _ in parts),
        )

    def __repr__(self) -> str:
        return f"ClosedWindows({self.job!r}, {len(self)} windows)"


class WindowResults(Sequence[WindowResult]):
    """A batch's window results, in order: its jobs' :class:`ClosedWindows` one after the other.
    A sequence of :class:`WindowResult` (equal to a list of the same results)."""

    __slots__ = ("parts",)

    def __init__(self, parts: Iterable[Sequence[WindowResult]] = ()) -> None:
        self.parts: list[Sequence[WindowResult]] = []
        for part in parts:
            self.extend(part)

    def extend(self, results: Iterable[WindowResult]) -> None:
        if isinstance(results, WindowResults):
            self.parts += results.parts
        elif isinstance(results, ClosedWindows):
            if len(results):
                self.parts.append(results)
        else:
            rows = list(results)
            if rows:
                self.parts.append(rows)

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def __iter__(self) -> Iterator[WindowResult]:
        for part in self.parts:
            yield from part

    @overload
    def __getitem__(self, index: int) -> WindowResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[WindowResult]: ...
    def __getitem__(self, index: int | slice) -> WindowResult | list[WindowResult]:
        if isinstance(index, slice):  # row by row: a sink writes a long run in chunks
            return [self[i] for i in range(*index.indices(len(self)))]
        at = index + len(self) if index < 0 else index
        for part in self.parts:
            if 0 <= at < len(part):
                return part[at]
            at -= len(part)
        raise IndexError("window result index out of range")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def __add__(self, other: Iterable[WindowResult]) -> list[WindowResult]:
        return [*self, *other]

    def __radd__(self, other: Iterable[WindowResult]) -> list[WindowResult]:
        return [*other, *self]

    def __repr__(self) -> str:
        return f"WindowResults({list(self)!r})"


@dataclass(frozen=True)
class LateEvent:
    """A valid event whose window (of ``job``) had already closed when it arrived."""

    job: str
    event_id: str
    event_time_ms: int
    window_start_ms: int
    window_end_ms: int
    watermark_ms: int
    shard_id: str
    sequence_number: str
    sub_sequence_number: int
    payload: bytes

    @classmethod
    def of_rows(
        cls,
        job: WindowJob,
        shard_id: str,
        late: np.ndarray,
        ids: Sequence[str],
        times: np.ndarray,
        newest_before: np.ndarray,
        records: Sequence[RawRecord],
    ) -> list[LateEvent]:
        """The late events of a batch for ``job``: the rows where ``late`` (its operator's mask)
        holds, from the events' ids, times, newest event time before each, and raw records."""
        rows = np.flatnonzero(late)
        late_times, befores = times[rows].tolist(), newest_before[rows].tolist()
        events = []
        for row, time, before in zip(rows.tolist(), late_times, befores, strict=True):
            start, record = job.window_start(time), records[row]
            events.append(
                cls(
                    job=job.name,
                    event_id=ids[row],
                    event_time_ms=time,
                    window_start_ms=start,
                    window_end_ms=start + job.size_ms,
                    watermark_ms=before - job.lateness_ms,
                    shard_id=shard_id,
                    sequence_number=record.sequence_number,
                    sub_sequence_number=record.sub_sequence_number,
                    payload=record.data,
                )
            )
        return events

    @property
    def record_id(self) -> str:
        return f"{self.job}|{self.event_id}"

    @property
    def reason(self) -> str:
        return (
            f"late for job {self.job}: window [{self.window_start_ms}, {self.window_end_ms}) "
            f"closed at watermark {self.watermark_ms}"
        )

    def as_row(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "job": self.job,
            "event_id": self.event_id,
            "event_time_ms": self.event_time_ms,
            "window_start_ms": self.window_start_ms,
            "watermark_ms": self.watermark_ms,
            "reason": self.reason,
            "shard_id": self.shard_id,
            "sequence_number": self.sequence_number,
            "sub_sequence_number": self.sub_sequence_number,
            "payload": self.payload.decode("utf-8", errors="replace"),
        }


@dataclass(frozen=True)
class DeadLetter:
    """A record that is not a valid event, with its raw bytes and where it came from."""

    reason: str
    shard_id: str
    sequence_number: str
    sub_sequence_number: int
    partition_key: str
    data: bytes
    approximate_arrival_ms: int = 0

    @classmethod
    def of(cls, record: RawRecord, reason: str, shard_id: str) -> DeadLetter:
        return cls(
            reason=reason,
            shard_id=shard_id,
            sequence_number=record.sequence_number,
            sub_sequence_number=record.sub_sequence_number,
            partition_key=record.partition_key,
            data=record.data,
            approximate_arrival_ms=record.approximate_arrival_ms,
        )

    @property
    def record_id(self) -> str:
        return f"{self.shard_id}|{self.sequence_number}|{self.sub_sequence_number}"

    @property
    def raw_key(self) -> str:
        """Where raw data too large to inline is kept (deterministic: a replay overwrites)."""
        position = f"{self.sequence_number}-{self.sub_sequence_number}"
        return f"{DEAD_LETTER_RAW_PREFIX}{self.shard_id}/{position}"

    def as_row(self, data_uri: str | None = None) -> dict[str, Any]:
        """The lake row; with ``data_uri`` (raw data stored there) the bytes are not inlined."""
        return {
            "record_id": self.record_id,
            "reason": self.reason,
            "shard_id": self.shard_id,
            "sequence_number": self.sequence_number,
            "sub_sequence_number": self.sub_sequence_number,
            "partition_key": self.partition_key,
            "data_base64": None if data_uri else base64.b64encode(self.data).decode("ascii"),
            "data_size": len(self.data),
            "data_uri": data_uri,
            "approximate_arrival_ms": self.approximate_arrival_ms,
        }


#: Dead letters whose raw data exceeds this are stored as objects in the lake bucket, and the
#: row carries ``data_uri`` instead of ``data_base64`` (a Firehose record holds 1,000 KiB).
INLINE_DEAD_LETTER_BYTES = 64 * 1024
DEAD_LETTER_RAW_PREFIX = "dead_letters_raw/"

LATE_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("job", pa.string()),
        ("event_id", pa.string()),
        ("event_time_ms", pa.int64()),
        ("window_start_ms", pa.int64()),
        ("watermark_ms", pa.int64()),
        ("reason", pa.string()),
        ("shard_id", pa.string()),
        ("sequence_number", pa.string()),
        ("sub_sequence_number", pa.int64()),
        ("payload", pa.string()),
    ]
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("reason", pa.string()),
        ("shard_id", pa.string()),
        ("sequence_number", pa.string()),
        ("sub_sequence_number", pa.int64()),
        ("partition_key", pa.string()),
        ("data_base64", pa.string()),
        ("data_size", pa.int64()),
        ("data_uri", pa.string()),
        ("approximate_arrival_ms", pa.int64()),
    ]
)

#: Columns every event row carries in the lake besides the event's own fields.
EVENT_METADATA = (
    pa.field("shard_id", pa.string()),
    pa.field("sequence_number", pa.string()),
    pa.field("sub_sequence_number", pa.int64()),
)


@dataclass
class Counters:
    """Running counts of one shard's processing (reported, snapshotted with the state)."""

    records: int = 0
    events: int = 0
    duplicates: int = 0
    late: int = 0
    dead_letters: int = 0
    results: int = 0
    #: open windows dropped when a changed job was restarted (consumer.restart_jobs)
    dropped_windows: int = 0

    def add(self, other: Counters) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def event_row(record: RawRecord, shard_id: str) -> bytes:
    """The lake row of a valid event: its payload with its position appended, as JSON.

    The payload was validated as a JSON object, so splicing the metadata in before its closing
    brace is exact (and saves a decode and an encode per event); were a payload to carry fields
    of the same names, the appended ones come last and win, as in the lake's JSON reader.
    """
    return event_rows([record], shard_id)[0]


def event_rows(events: Sequence[RawRecord], shard_id: str) -> list[bytes]:
    """:func:`event_row` of each event, in C; a :class:`RecordBatch`'s straight from its
    buffer, without a raw record each."""
    if isinstance(events, RecordBatch):
        return _kernels.batch_rows(events.buffer, np.ascontiguousarray(events.rows), shard_id)
    return _kernels.record_rows(events if isinstance(events, list) else list(events), shard_id)


@dataclass
class Outcome:
    """Everything one batch produced, in shard order, ready for the sinks.

    ``events`` are the raw records of the valid, first-seen events (see :func:`event_row`): a
    list, or the rows of a :class:`RecordBatch` (records framed as columns stay columns).
    """

    events: Sequence[RawRecord] = field(default_factory=list)
    results: WindowResults = field(default_factory=WindowResults)
    late: list[LateEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)

    def extend(self, other: Outcome) -> None:
        if not self.events:  # a batch's rows are kept as they are, a list is not shared
            self.events = other.events if isinstance(other.events, RecordBatch) else [*other.events]
        elif other.events:  # several runs of one batch (split by control records)
            events = self.events if isinstance(self.events, list) else [*self.events]
            events.extend(other.events)
            self.events = events
        self.results.extend(other.results)
        self.late.extend(other.late)
        self.dead_letters.extend(other.dead_letters)
        self.counters.add(other.counters)
