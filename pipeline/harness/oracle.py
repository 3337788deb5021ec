"""An independent oracle: what a correct consumer must output for what the stream delivered.

The authority for the window semantics (dedupe over the horizon, lateness, end-of-stream
markers, dead letters, resharding): the chaos harness and the crash test judge the consumer with
it, and ``tests/oracle.py`` runs it on one shard's event dicts for the core's unit tests.

Given every shard's records in sequence order and the shards' lineage, it replays the
documented semantics one record at a time with plain dicts and loops: no Arrow, no batching, no
code shared with the consumer beyond the event schema (the specification of a valid record). A
parent shard is processed before its children; at its end its open windows are closed as parts,
and its children start from its dedupe memory and newest event time; parts of one window from
several shards are merged. Outputs are compared with the consumer's by
:mod:`pipeline.harness.verdict`.

Supported metric functions: count, sum, min, max, avg, count_distinct (each optionally filtered
with ``if``); the jobs shipped by default use only these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.core.dedupe import Deduper
from pipeline.core.records import RawRecord
from pipeline.core.shard import CONTROL_PREFIX, END_OF_STREAM, END_TIME, NO_TIME
from pipeline.core.windows.spec import WindowJob

OracleKey = tuple[str, int, tuple[Any, ...]]  # job, window start, group values


@dataclass
class Expected:
    """Expected outputs: window metrics, event ids kept, late (job, event id), dead letters."""

    windows: dict[OracleKey, dict[str, Any]] = field(default_factory=dict)
    events: set[str] = field(default_factory=set)
    late: set[tuple[str, str]] = field(default_factory=set)
    dead_letters: set[tuple[str, str, int]] = field(default_factory=set)  # shard, sequence, sub
    duplicates: int = 0


@dataclass
class _ShardState:
    seen: dict[str, int] = field(default_factory=dict)  # event id -> dedupe bucket
    newest: int = NO_TIME
    members: dict[OracleKey, list[dict[str, Any]]] = field(default_factory=dict)


class Oracle:
    """``max_future_skew_ms``: events that far ahead of their record's arrival are dead letters
    (None: no bound); ``control_records``: end-of-stream markers end a shard (a bounded run)
    or are dead letters."""

    def __init__(
        self,
        jobs: Sequence[WindowJob],
        dedupe_horizon_ms: int,
        max_future_skew_ms: int | None = None,
        control_records: bool = True,
    ) -> None:
        if not jobs:
            raise ValueError("the oracle needs at least one job")
        self.jobs = list(jobs)
        self.etype = jobs[0].etype
        self.horizon = max([dedupe_horizon_ms] + [j.size_ms + j.lateness_ms for j in jobs])
        self.bucket_ms = Deduper(self.horizon).bucket_ms
        self.max_future_skew_ms = max_future_skew_ms
        self.control_records = control_records
        self._decode = msgspec.json.Decoder(self.etype.struct).decode
        self.expected = Expected()
        self._parts: dict[OracleKey, list[list[dict[str, Any]]]] = defaultdict(list)

    def run(
        self, shards: dict[str, list[RawRecord]], parents: dict[str, tuple[str, ...]]
    ) -> Expected:
        """``shards``: records per shard in sequence order; ``parents``: each shard's parents."""
        finished: dict[str, _ShardState] = {}
        pending = list(shards)
        while pending:
            ready = [
                s
                for s in pending
                if all(p in finished or p not in shards for p in parents.get(s, ()))
            ]
            if not ready:
                raise ValueError(f"shard lineage has a cycle among {pending}")
            for shard in sorted(ready):
                state = _ShardState()
                for parent in parents.get(shard, ()):
                    if parent in finished:
                        state.seen.update(finished[parent].seen)
                        state.newest = max(state.newest, finished[parent].newest)
                self._shard(shard, shards[shard], state)
                finished[shard] = state
                pending.remove(shard)
        for key, parts in self._parts.items():
            job = next(j for j in self.jobs if j.name == key[0])
            events = [e for part in parts for e in part]
            self.expected.windows[key] = _metrics(job, events)
        return self.expected

    def _shard(self, shard: str, records: Iterable[RawRecord], state: _ShardState) -> None:
        etype = self.etype
        for record in records:
            if record.data == END_OF_STREAM and self.control_records:
                self._close(state, everything=True)
                state.newest = END_TIME
                continue
            try:
                if record.data[: len(CONTROL_PREFIX)] == CONTROL_PREFIX:
                    raise msgspec.DecodeError("a control record")
                record.data.decode("utf-8")
                decoded = msgspec.structs.asdict(self._decode(record.data))
                times, bad_times = etype.event_times_ms([decoded[etype.time_field]])
                if bad_times:
                    raise msgspec.ValidationError(bad_times[0][1])
                ts = int(times[0])
                if self._ahead_of_arrival(record, ts):
                    raise msgspec.ValidationError("event time ahead of arrival")
            except (UnicodeDecodeError, msgspec.DecodeError):
                self.expected.dead_letters.add(
                    (shard, record.sequence_number, record.sub_sequence_number)
                )
                continue
            event = {k: None if v is msgspec.UNSET else v for k, v in decoded.items()}
            before = state.newest
            state.newest = max(state.newest, ts)
            event_id = event[etype.id_field]
            seen = state.seen.get(event_id)
            if seen is not None and seen >= (before - self.horizon) // self.bucket_ms:
                self.expected.duplicates += 1
                continue
            state.seen[event_id] = ts // self.bucket_ms
            self.expected.events.add(event_id)
            for job in self.jobs:
                start = ts - ts % job.size_ms
                if start + job.size_ms <= before - job.lateness_ms:
                    self.expected.late.add((job.name, event_id))
                    continue
                key = (job.name, start, tuple(event[g] for g in job.group_by))
                state.members.setdefault(key, []).append(event)
            self._close(state, everything=False)
        self._close(state, everything=True)  # the shard's end (or the end of the input)

    def _ahead_of_arrival(self, record: RawRecord, ts: int) -> bool:
        skew, arrival = self.max_future_skew_ms, record.approximate_arrival_ms
        return skew is not None and arrival != 0 and ts > arrival + skew

    def _close(self, state: _ShardState, everything: bool) -> None:
        for key in list(state.members):
            job = next(j for j in self.jobs if j.name == key[0])
            if everything or key[1] + job.size_ms <= state.newest - job.lateness_ms:
                self._parts[key].append(state.members.pop(key))


def _metrics(job: WindowJob, events: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for metric in job.metrics:
        chosen = events
        if metric.condition is not None:
            chosen = [
                e
                for e in events
                if all(_matches(e.get(t.field), t.op, t.values) for t in metric.condition.terms)
            ]
        values = (
            [e[metric.field] for e in chosen if e.get(metric.field) is not None]
            if metric.field
            else None
        )
        name = metric.function.name
        if name == "count":
            out[metric.name] = len(chosen) if values is None else len(values)
        elif name == "sum":
            out[metric.name] = sum(values) if values else None
        elif name == "min":
            out[metric.name] = min(values) if values else None
        elif name == "max":
            out[metric.name] = max(values) if values else None
        elif name == "avg":
            out[metric.name] = sum(values) / len(values) if values else None
        elif name == "count_distinct":
            out[metric.name] = len(set(values))
        else:
            raise ValueError(f"the oracle does not compute {name}()")
    return out


def _matches(value: Any, op: str, values: tuple[Any, ...]) -> bool:
    if value is None:
        return False
    if op == "in":
        return value in values
    target = values[0]
    return {
        "=": value == target,
        "!=": value != target,
        "<": value < target,
        "<=": value <= target,
        ">": value > target,
        ">=": value >= target,
    }[op]
