"""The pure per-shard computation: records -> events -> dedupe -> windows -> outputs.

:class:`ShardCore` holds one shard's state (dedupe memory, open windows, newest event time) and
turns each batch of raw records into an :class:`~pipeline.core.results.Outcome`. It does no I/O and
reads no clock, so the same records always give the same outputs, whatever the batch split: the
property that makes a replay from a checkpoint safe.

Control records (``{"_control": "end_of_stream"}``) mark the end of a bounded input: every open
window closes, and anything after them on the shard is late. Producers send one per shard at the
end of a bounded run (``--end-of-stream``) so that a demo or a replay can finish its windows
deterministically instead of waiting on the wall clock.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import numpy as np

from pipeline.core.dedupe import Deduper
from pipeline.core.errors import StateError
from pipeline.core.events.decode import EVENT_TIME, MAX_EVENT_BYTES, RECORD_INDEX, Decoder
from pipeline.core.events.schema import EventType
from pipeline.core.records import RawRecord
from pipeline.core.results import Counters, DeadLetter, LateEvent, Outcome
from pipeline.core.windows.operator import WindowOperator, newest_before
from pipeline.core.windows.spec import WindowJob

CONTROL_PREFIX = b'{"_control"'
END_OF_STREAM = b'{"_control":"end_of_stream"}'
#: Newest event time before any event; and after an end-of-stream marker.
NO_TIME = -(2**62)
END_TIME = 2**62
SNAPSHOT_VERSION = 1


class _Control(msgspec.Struct):
    _control: str


_decode_control = msgspec.json.Decoder(_Control).decode


class ShardCore:
    """One shard's processing state and logic."""

    def __init__(
        self,
        etype: EventType,
        jobs: Sequence[WindowJob],
        shard_id: str,
        dedupe_horizon_ms: int | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        for job in jobs:
            if job.etype.name != etype.name:
                raise ValueError(f"job {job.name} reads {job.etype.name} events, not {etype.name}")
        self.etype = etype
        self.shard_id = shard_id
        needed = {etype.id_field}
        for job in jobs:
            needed.update(job.group_by)
            for metric in job.metrics:
                if metric.field:
                    needed.add(metric.field)
                if metric.condition:
                    needed.update(term.field for term in metric.condition.terms)
        self.decoder = Decoder(etype, sorted(needed), max_event_bytes)
        self.operators = [WindowOperator(job) for job in jobs]
        horizon = max((j.size_ms + j.lateness_ms for j in jobs), default=60_000)
        self.deduper = Deduper(max(horizon, dedupe_horizon_ms or 0))
        self.newest_event_time_ms = NO_TIME
        self.counters = Counters()

    @property
    def ended(self) -> bool:
        return self.newest_event_time_ms == END_TIME

    def process(self, records: Sequence[RawRecord]) -> Outcome:
        """Process a batch in shard order; returns everything it produced.

        Control records split the batch; each run of records between them goes decode ->
        dedupe -> windows -> results (:meth:`_process_events`).
        """
        outcome = Outcome()
        for events, control in _split_control(records):
            if events:
                outcome.extend(self._process_events(events))
            if control is not None:
                outcome.extend(self._process_control(control))
        self.counters.add(outcome.counters)
        return outcome

    def close_windows(self, end_of_stream: bool = False) -> Outcome:
        """Emit every open window now.

        ``end_of_stream``: the bounded input has ended, the newest event time jumps to the end
        and anything after is late. Otherwise the shard ends (resharding) and keeps its
        watermark for its children; each result is this shard's part of its window, merged with
        the children's parts of the same window by the results sink.
        """
        outcome = self._close_windows(end_of_stream)
        self.counters.add(outcome.counters)
        return outcome

    def _process_events(self, batch: Sequence[RawRecord]) -> Outcome:
        """Records with no control record among them: decode -> dedupe -> windows -> results."""
        outcome = Outcome()
        counters = outcome.counters
        counters.records = len(batch)
        decoded = self.decoder.decode([r.data for r in batch])
        outcome.dead_letters = [
            DeadLetter.of(batch[reject.index], reject.reason, self.shard_id)
            for reject in decoded.rejects
        ]
        counters.dead_letters = len(outcome.dead_letters)
        table = decoded.events
        if table.num_rows == 0:
            return outcome
        times = table.column(EVENT_TIME).to_numpy()
        before = newest_before(times, self.newest_event_time_ms)
        self.newest_event_time_ms = max(self.newest_event_time_ms, int(times.max()))
        ids = table.column(self.etype.id_field).to_pylist()
        first = self.deduper.first_seen(ids, times, before)
        counters.duplicates = int(len(first) - first.sum())
        if counters.duplicates:
            table = table.filter(first)
            times, before = times[first], before[first]
            ids = [i for i, keep in zip(ids, first.tolist(), strict=True) if keep]
        counters.events = table.num_rows
        outcome.events = [batch[i] for i in table.column(RECORD_INDEX).to_numpy().tolist()]
        for operator in self.operators:
            late = operator.add(table, before) if table.num_rows else np.zeros(0, dtype=bool)
            if late.any():
                outcome.late += LateEvent.of_rows(
                    operator.job, self.shard_id, late, ids, times, before, outcome.events
                )
        counters.late = len(outcome.late)
        for operator in self.operators:
            outcome.results.extend(operator.close(self.newest_event_time_ms))
        counters.results = len(outcome.results)
        self.deduper.forget_before(self.newest_event_time_ms)
        return outcome

    def _process_control(self, record: RawRecord) -> Outcome:
        try:
            kind = _decode_control(record.data)._control
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            kind = f"unreadable ({exc})"
        if kind == "end_of_stream":
            return self._close_windows(end_of_stream=True)
        reason = f"unknown control record: {kind}"
        outcome = Outcome(dead_letters=[DeadLetter.of(record, reason, self.shard_id)])
        outcome.counters.records = outcome.counters.dead_letters = 1
        return outcome

    def _close_windows(self, end_of_stream: bool) -> Outcome:
        outcome = Outcome()
        for operator in self.operators:
            outcome.results.extend(operator.close_all())
        outcome.counters.results = len(outcome.results)
        if end_of_stream:
            self.newest_event_time_ms = END_TIME
        return outcome

    # -- state snapshots -------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as bytes; :meth:`restore` of them continues exactly from here."""
        state = {
            "version": SNAPSHOT_VERSION,
            "shard_id": self.shard_id,
            "event_type": self.etype.name,
            "newest_event_time_ms": self.newest_event_time_ms,
            "dedupe": self.deduper.to_state(),
            "windows": {op.job.name: op.to_state() for op in self.operators},
            "counters": self.counters.__dict__,
        }
        return zlib.compress(msgspec.msgpack.encode(state), level=1)

    def restore(self, blob: bytes) -> None:
        """Continue from a :meth:`snapshot`; :class:`StateError` if it is not one of ours."""
        state = self._read_snapshot(blob)
        self.newest_event_time_ms = state["newest_event_time_ms"]
        self.deduper.load_state(state["dedupe"])
        windows = state["windows"]
        for operator in self.operators:
            operator.load_state(windows.get(operator.job.name, []))
        self.counters = Counters(**state["counters"])

    def adopt_parent(self, blob: bytes) -> None:
        """Continue from a finished parent shard's snapshot (taken after :meth:`close_windows`).

        A child inherits its parents' dedupe memory (a duplicate may straddle the reshard) and
        newest event time (late stays late across it). Call before the first batch.
        """
        parent = self._read_snapshot(blob)
        if any(parent["windows"].get(op.job.name) for op in self.operators):
            raise StateError("a parent's snapshot must be taken after its windows were closed")
        self.newest_event_time_ms = max(self.newest_event_time_ms, parent["newest_event_time_ms"])
        self.deduper.merge(parent["dedupe"])

    def _read_snapshot(self, blob: bytes) -> dict[str, Any]:
        try:
            state = msgspec.msgpack.decode(zlib.decompress(blob))
        except (zlib.error, msgspec.DecodeError) as exc:
            raise StateError(f"unreadable state snapshot ({exc})") from None
        version = state.get("version") if isinstance(state, dict) else None
        if version != SNAPSHOT_VERSION:
            raise StateError(f"unsupported snapshot version {version!r}")
        if state["event_type"] != self.etype.name:
            raise StateError(f"snapshot holds {state['event_type']} state, not {self.etype.name}")
        return state


def _split_control(
    records: Sequence[RawRecord],
) -> Iterator[tuple[Sequence[RawRecord], RawRecord | None]]:
    """The runs of records between control records, each with the control record ending it."""
    start = 0
    for i, record in enumerate(records):
        if record.data[: len(CONTROL_PREFIX)] == CONTROL_PREFIX:
            yield records[start:i], record
            start = i + 1
    yield records[start:], None
