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
from collections.abc import Sequence

import msgspec
import numpy as np

from pipeline.core.dedupe import Deduper
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
        """Process a batch in shard order; returns everything it produced."""
        outcome = Outcome()
        start = 0
        for i, record in enumerate(records):
            if record.data[:11] == CONTROL_PREFIX:
                if start < i:
                    outcome.extend(self._process_events(records, start, i))
                outcome.extend(self._process_control(record))
                start = i + 1
        if start < len(records):
            outcome.extend(self._process_events(records, start, len(records)))
        self.counters.add(outcome.counters)
        return outcome

    def end_of_stream(self) -> Outcome:
        """Close every open window now: the bounded input has ended."""
        outcome = self._close_all()
        self.counters.add(outcome.counters)
        return outcome

    def close_windows(self) -> Outcome:
        """Emit every open window now, keeping the watermark (the shard ends: resharding).

        Each emitted result is this shard's part of its window; the children's parts of the
        same windows are merged with it by the results sink.
        """
        outcome = Outcome()
        for operator in self.operators:
            outcome.results.extend(operator.close_all())
        outcome.counters.results = len(outcome.results)
        self.counters.add(outcome.counters)
        return outcome

    def adopt_parent(self, blob: bytes) -> None:
        """Continue from a finished parent shard's snapshot (taken after :meth:`close_windows`).

        A child inherits its parents' dedupe memory (a duplicate may straddle the reshard) and
        newest event time (late stays late across it). Call before the first batch.
        """
        parent = ShardCore(self.etype, [op.job for op in self.operators], "parent")
        parent.restore(blob)
        if any(op.open_windows for op in parent.operators):
            raise ValueError("a parent's snapshot must be taken after its windows were closed")
        self.newest_event_time_ms = max(self.newest_event_time_ms, parent.newest_event_time_ms)
        merged = self.deduper.to_state()
        for bucket, ids in parent.deduper.to_state().items():
            merged[bucket] = merged.get(bucket, []) + ids
        self.deduper.load_state(merged)

    def _close_all(self) -> Outcome:
        outcome = Outcome()
        for operator in self.operators:
            outcome.results.extend(operator.close_all())
        outcome.counters.results = len(outcome.results)
        self.newest_event_time_ms = END_TIME
        return outcome

    def _process_control(self, record: RawRecord) -> Outcome:
        try:
            kind = _decode_control(record.data)._control
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            kind = f"unreadable ({exc})"
        if kind == "end_of_stream":
            return self._close_all()
        outcome = Outcome()
        outcome.dead_letters.append(self._dead_letter(record, f"unknown control record: {kind}"))
        outcome.counters.records = 1
        outcome.counters.dead_letters = 1
        return outcome

    def _process_events(self, records: Sequence[RawRecord], start: int, stop: int) -> Outcome:
        outcome = Outcome()
        batch = records[start:stop]
        counters = outcome.counters
        counters.records = len(batch)
        decoded = self.decoder.decode([r.data for r in batch])
        for reject in decoded.rejects:
            outcome.dead_letters.append(self._dead_letter(batch[reject.index], reject.reason))
        counters.dead_letters = len(decoded.rejects)
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
        record_index = table.column(RECORD_INDEX).to_numpy()
        for operator in self.operators:
            late = operator.add(table, before) if table.num_rows else np.zeros(0, dtype=bool)
            if late.any():
                job = operator.job
                for row in np.flatnonzero(late).tolist():
                    record = batch[int(record_index[row])]
                    window_start = operator.job.window_start(int(times[row]))
                    outcome.late.append(
                        LateEvent(
                            job=job.name,
                            event_id=ids[row],
                            event_time_ms=int(times[row]),
                            window_start_ms=window_start,
                            window_end_ms=window_start + job.size_ms,
                            watermark_ms=int(before[row]) - job.lateness_ms,
                            shard_id=self.shard_id,
                            sequence_number=record.sequence_number,
                            sub_sequence_number=record.sub_sequence_number,
                            payload=record.data,
                        )
                    )
        counters.late = len(outcome.late)
        for operator in self.operators:
            outcome.results.extend(operator.close(self.newest_event_time_ms))
        counters.results = len(outcome.results)
        self.deduper.forget_before(self.newest_event_time_ms)
        outcome.events = [batch[i] for i in record_index.tolist()]
        return outcome

    def _dead_letter(self, record: RawRecord, reason: str) -> DeadLetter:
        return DeadLetter(
            reason=reason,
            shard_id=self.shard_id,
            sequence_number=record.sequence_number,
            sub_sequence_number=record.sub_sequence_number,
            partition_key=record.partition_key,
            data=record.data,
            approximate_arrival_ms=record.approximate_arrival_ms,
        )

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
        state = msgspec.msgpack.decode(zlib.decompress(blob))
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot version {state.get('version')!r}")
        if state["event_type"] != self.etype.name:
            raise ValueError(f"snapshot holds {state['event_type']} state, not {self.etype.name}")
        self.newest_event_time_ms = state["newest_event_time_ms"]
        self.deduper.load_state(state["dedupe"])
        windows = state["windows"]
        for operator in self.operators:
            operator.load_state(windows.get(operator.job.name, []))
        self.counters = Counters(**state["counters"])
