"""The pure per-shard computation: records -> events -> dedupe -> windows -> outputs.

:class:`ShardCore` holds one shard's state (dedupe memory, open windows, newest event time) and
turns each batch of raw records into an :class:`~pipeline.core.results.Outcome`. It does no I/O and
reads no clock, so the same records always give the same outputs, whatever the batch split: the
property that makes a replay from a checkpoint safe.

Event time is trusted only as far as the record's arrival (Kinesis's approximate arrival time,
or the caller's ``now_ms`` for a record without one): an event more than
``max_future_skew_ms`` ahead of it is a broken clock, dead-lettered, and never moves the
watermark. A shard that receives nothing for ``idle_timeout_ms`` advances its watermark by the
wall-clock time that has passed (:meth:`ShardCore.tick`), so a quiet shard still finishes its
windows; the clock is the caller's, passed in, so tests stay deterministic.

Control records (``{"_control": "end_of_stream"}``) mark the end of a bounded input: every open
window closes, and anything after them on the shard is late. Producers send one per shard at the
end of a bounded run (``--end-of-stream``) so that a demo or a replay can finish its windows
deterministically instead of waiting on the wall clock. Anyone who can write to the stream could
send one, so they are honoured only when the settings say the input is bounded
(``control_records``); otherwise they are dead letters.

A snapshot records every job's definition: restoring into a job whose definition changed under
the same name stops with :class:`StateError` naming what changed, unless the job is listed in
``restart_jobs`` (then its open windows are dropped, counted, and it starts afresh).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from pipeline.core._kernels import record_fields, starting_with, take
from pipeline.core.dedupe import Deduper
from pipeline.core.errors import StateError
from pipeline.core.events.decode import EVENT_TIME, MAX_EVENT_BYTES, RECORD_INDEX, Decoder, Reject
from pipeline.core.events.schema import EventType
from pipeline.core.records import Payloads, RawRecord, RecordBatch
from pipeline.core.results import Counters, DeadLetter, LateEvent, Outcome
from pipeline.core.windows.operator import WindowOperator, newest_before
from pipeline.core.windows.spec import WindowJob

CONTROL_PREFIX = b'{"_control"'
END_OF_STREAM = b'{"_control":"end_of_stream"}'
#: Newest event time before any event; and after an end-of-stream marker.
NO_TIME = -(2**62)
END_TIME = 2**62
SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class ShardSettings:
    """How a shard treats time, memory and control records (the consumer's configuration)."""

    #: how long (event time) ids are remembered; at least lateness + window of every job
    dedupe_horizon_ms: int | None = None
    max_event_bytes: int = MAX_EVENT_BYTES
    #: an event more than this ahead of its record's arrival is a dead letter
    max_future_skew_ms: int = 300_000
    #: an event more than this behind its record's arrival is a dead letter (None: any age)
    max_event_age_ms: int | None = None
    #: no new record for this long: the watermark follows the wall clock (0: never)
    idle_timeout_ms: int = 60_000
    #: honour control records (end of stream): bounded runs only
    control_records: bool = False
    #: jobs to start afresh when their definition changed (their open windows are dropped)
    restart_jobs: frozenset[str] = field(default_factory=frozenset)


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
        settings: ShardSettings | None = None,
    ) -> None:
        for job in jobs:
            if job.etype.name != etype.name:
                raise ValueError(f"job {job.name} reads {job.etype.name} events, not {etype.name}")
        self.etype = etype
        self.shard_id = shard_id
        self.settings = settings = settings or ShardSettings()
        needed = {etype.id_field}
        for job in jobs:
            needed.update(job.group_by)
            for metric in job.metrics:
                if metric.field:
                    needed.add(metric.field)
                if metric.condition:
                    needed.update(term.field for term in metric.condition.terms)
        self.decoder = Decoder(etype, sorted(needed), settings.max_event_bytes)
        self.operators = [WindowOperator(job) for job in jobs]
        horizon = max((j.size_ms + j.lateness_ms for j in jobs), default=60_000)
        self.deduper = Deduper(max(horizon, settings.dedupe_horizon_ms or 0))
        self.newest_event_time_ms = NO_TIME
        self.counters = Counters()
        #: wall-clock time of the last record (None: none since start), and the newest event
        #: time then: an idle shard's watermark runs on from there (not snapshotted: a
        #: restarted shard waits a whole idle timeout again)
        self._active_at_ms: int | None = None
        self._newest_when_active = NO_TIME

    @property
    def ended(self) -> bool:
        return self.newest_event_time_ms == END_TIME

    def process(self, records: Sequence[RawRecord], now_ms: int | None = None) -> Outcome:
        """Process a batch in shard order; returns everything it produced.

        ``now_ms`` is the wall clock (epoch ms): the arrival time of records without one, and
        the start of the idle timeout. Control records split the batch; each run of records
        between them goes decode -> dedupe -> windows -> results (:meth:`_process_events`).
        """
        outcome = Outcome()
        payloads: list[bytes] | Payloads
        if isinstance(records, RecordBatch):  # columns already: read in place
            payloads, arrivals = records.payloads, records.arrivals
        else:
            records = records if type(records) is list else list(records)  # C reads a list
            payloads, arrivals = record_fields(records)
        start = 0
        for stop in [*starting_with(payloads, CONTROL_PREFIX), len(records)]:
            if stop > start:
                run = slice(start, stop)
                events = self._process_events(records[run], payloads[run], arrivals[run], now_ms)
                outcome.extend(events)
            if stop < len(records):
                outcome.extend(self._process_control(records[stop]))
            start = stop + 1
        if now_ms is not None and records:
            self._active_at_ms, self._newest_when_active = now_ms, self.newest_event_time_ms
        self.counters.add(outcome.counters)
        return outcome

    def tick(self, now_ms: int) -> Outcome:
        """The wall clock ticks on a shard with no new record: once it has been idle for the
        idle timeout, its newest event time runs on with the clock, closing the windows it
        passes (nothing happens before an event has been seen, or with the timeout off)."""
        timeout = self.settings.idle_timeout_ms
        if self._active_at_ms is None:
            self._active_at_ms, self._newest_when_active = now_ms, self.newest_event_time_ms
        idle_ms = now_ms - self._active_at_ms
        outcome = Outcome()
        if not timeout or idle_ms < timeout or self._newest_when_active in (NO_TIME, END_TIME):
            return outcome
        advanced = self._newest_when_active + idle_ms
        if advanced > self.newest_event_time_ms:
            self.newest_event_time_ms = advanced
            for operator in self.operators:
                outcome.results.extend(operator.close(advanced))
            outcome.counters.results = len(outcome.results)
            self.deduper.forget_before(advanced)
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

    def _process_events(
        self,
        batch: list[RawRecord] | RecordBatch,
        payloads: list[bytes] | Payloads,
        arrivals: np.ndarray,
        now_ms: int | None,
    ) -> Outcome:
        """Records with no control record among them: decode -> dedupe -> windows -> results."""
        outcome = Outcome()
        counters = outcome.counters
        counters.records = len(batch)
        decoded = self.decoder.decode(payloads)
        rejects = decoded.rejects
        table = decoded.events
        untrusted = self._untrusted_times(table, arrivals, now_ms)
        if untrusted:
            rejects = sorted(rejects + untrusted, key=lambda r: r.index)
            bad = np.isin(table.column(RECORD_INDEX).to_numpy(), [r.index for r in untrusted])
            table = table.filter(~bad)
        outcome.dead_letters = [
            DeadLetter.of(batch[reject.index], reject.reason, self.shard_id) for reject in rejects
        ]
        counters.dead_letters = len(outcome.dead_letters)
        if table.num_rows == 0:
            return outcome
        times = table.column(EVENT_TIME).to_numpy()
        before = newest_before(times, self.newest_event_time_ms)
        self.newest_event_time_ms = max(self.newest_event_time_ms, int(times.max()))
        first = self.deduper.first_seen(table.column(self.etype.id_field), times, before)
        counters.duplicates = int(len(first) - np.count_nonzero(first))
        rows, positions = None, _rows(table)  # the first-seen rows (None: all), read in place
        if counters.duplicates:
            rows = np.flatnonzero(first)
            times, before, positions = times[rows], before[rows], positions[rows]
        counters.events = len(positions)
        if isinstance(batch, RecordBatch):
            outcome.events = batch.take(positions)
        else:
            outcome.events = take(batch, positions)
        for operator in self.operators:
            late = operator.add(table, before, rows) if len(positions) else np.zeros(0, dtype=bool)
            if late.any():
                id_column = table.column(self.etype.id_field)
                ids = (id_column if rows is None else id_column.take(rows)).to_pylist()
                outcome.late += LateEvent.of_rows(
                    operator.job, self.shard_id, late, ids, times, before, outcome.events
                )
        counters.late = len(outcome.late)
        for operator in self.operators:
            outcome.results.extend(operator.close(self.newest_event_time_ms))
        counters.results = len(outcome.results)
        self.deduper.forget_before(self.newest_event_time_ms)
        return outcome

    def _untrusted_times(
        self, table: pa.Table, arrivals: np.ndarray, now_ms: int | None
    ) -> list[Reject]:
        """Events whose time is too far ahead of (or behind) their record's arrival."""
        if table.num_rows == 0:
            return []
        rows = table.column(RECORD_INDEX).to_numpy()
        arrival = arrivals[rows]
        if now_ms is not None:
            arrival[arrival == 0] = now_ms
        known = arrival != 0
        times = table.column(EVENT_TIME).to_numpy()
        skew, age = self.settings.max_future_skew_ms, self.settings.max_event_age_ms
        ahead = known & (times > arrival + skew)
        behind = known & (times < arrival - age) if age is not None else np.zeros_like(ahead)
        rejects = [
            Reject(
                int(rows[i]),
                f"event time ahead of arrival: {_span(int(times[i] - arrival[i]))}"
                f" past it (consumer.max_future_skew: {_span(skew)})",
            )
            for i in np.flatnonzero(ahead).tolist()
        ]
        rejects += [
            Reject(
                int(rows[i]),
                f"event older than consumer.max_event_age ({_span(age or 0)}): "
                f"{_span(int(arrival[i] - times[i]))} behind its arrival",
            )
            for i in np.flatnonzero(behind).tolist()
        ]
        return rejects

    def _process_control(self, record: RawRecord) -> Outcome:
        """The exact end-of-stream marker ends a bounded input; any other control record, and
        the marker when control records are off, is a dead letter."""
        if record.data == END_OF_STREAM and self.settings.control_records:
            return self._close_windows(end_of_stream=True)
        if record.data == END_OF_STREAM:
            reason = "control record not enabled (end_of_stream: only for bounded runs)"
        else:
            try:
                reason = f"unknown control record: {_decode_control(record.data)._control}"
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                reason = f"unknown control record: unreadable ({exc})"
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
            "jobs": {op.job.name: op.job.definition() for op in self.operators},
            "windows": {op.job.name: op.to_state() for op in self.operators},
            "counters": self.counters.__dict__,
        }
        return zlib.compress(msgspec.msgpack.encode(state), level=1)

    def restore(self, blob: bytes) -> None:
        """Continue from a :meth:`snapshot`; :class:`StateError` if it is not one of ours."""
        state = self._read_snapshot(blob)
        self.newest_event_time_ms = state["newest_event_time_ms"]
        self.deduper.load_state(state["dedupe"])
        self.counters = Counters(**state["counters"])
        windows, saved_jobs = state["windows"], state.get("jobs", {})
        for operator in self.operators:
            job = operator.job
            saved = saved_jobs.get(job.name, job.definition())  # older snapshots: no record
            open_windows = windows.get(job.name, [])
            if saved == job.definition():
                operator.load_state(open_windows)
            elif job.name in self.settings.restart_jobs:
                self.counters.dropped_windows += len(open_windows)
            else:
                raise StateError(
                    f"job {job.name} changed since its state was saved ({_changes(saved, job)}); "
                    f"its {len(open_windows)} open window(s) cannot be restored into the new "
                    f"definition. To start it afresh from the checkpoint, dropping them, set "
                    f'consumer.restart_jobs = ["{job.name}"] '
                    f"(PIPELINE_CONSUMER_RESTART_JOBS={job.name}), or give it a new name"
                )

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


def _changes(saved: dict[str, Any], job: WindowJob) -> str:
    current = job.definition()
    keys = sorted(saved.keys() | current.keys())
    return "; ".join(
        f"{key}: {saved.get(key)!r} -> {current.get(key)!r}"
        for key in keys
        if saved.get(key) != current.get(key)
    )


def _rows(table: pa.Table) -> np.ndarray:
    """The batch positions of a decoded table's rows (int32, contiguous)."""
    return np.ascontiguousarray(table.column(RECORD_INDEX).to_numpy(), dtype=np.int32)


def _span(ms: int) -> str:
    """A duration for people: its two largest units (``5m``, ``1824d 23h``, ``1.5s``)."""
    if ms < 60_000:
        return f"{ms / 1000:g}s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, ms = divmod(ms, size)
        if count or parts:
            parts.append(f"{count}{unit}")
    return " ".join(p for p in parts[:2] if not p.startswith("0")) or "0s"
