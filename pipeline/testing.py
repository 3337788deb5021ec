"""Test helpers for users of the library and for our own tests: fakes and an event factory.

``MemorySink`` and ``MemoryStateStore`` satisfy the sink and state-store protocols in memory, so
a :class:`~consumers.processor.ShardProcessor` can be exercised without AWS;
``MemoryCheckpointer`` records checkpoints; :func:`iot_records` builds raw records from dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.core.errors import SinkError
from pipeline.core.records import Checkpoint, RawRecord
from pipeline.core.results import DeadLetter, LateEvent, Outcome, WindowResult, event_rows
from pipeline.core.shard import ShardSettings
from pipeline.core.windows.operator import finish, merge_states
from pipeline.core.windows.spec import WindowJob

#: The core's settings for a bounded test input: its end-of-stream markers close the windows.
BOUNDED = ShardSettings(control_records=True)

_encode = msgspec.json.Encoder().encode


def iot_event(
    n: int,
    ts: int,
    device: str = "dev-1",
    temperature: float | None = 20.0,
    battery: float | None = 90.0,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A valid IoT event (``n`` makes the default event id unique)."""
    return {
        "event_id": event_id or f"e-{n}",
        "device_id": device,
        "device_type": "thermostat",
        "site": "site-1",
        "ts": ts,
        "temperature": temperature,
        "humidity": None,
        "battery": battery,
    }


def records(payloads: Iterable[dict[str, Any] | bytes], first_sequence: int = 1) -> list[RawRecord]:
    """Raw records with consecutive sequence numbers; dicts are JSON-encoded."""
    out = []
    for i, payload in enumerate(payloads):
        data = payload if isinstance(payload, bytes) else _encode(payload)
        out.append(RawRecord(data, "pk", str(first_sequence + i)))
    return out


@dataclass
class MemorySink:
    """Keeps every outcome; ``fail_next`` makes the next write raise SinkError (an outage)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, WindowResult] = field(default_factory=dict)
    #: result_id -> shard -> that shard's part (states), as the DynamoDB item holds them
    parts: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)
    late: list[LateEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    writes: int = 0
    fail_next: int = 0

    def write(self, outcome: Outcome, shard_id: str) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise SinkError("injected sink outage")
        self.writes += 1
        self.events.extend(msgspec.json.decode(row) for row in event_rows(outcome.events, shard_id))
        for result in outcome.results:  # keyed like DynamoDB: a rewrite overwrites
            self.results[result.result_id] = result
            self.parts.setdefault(result.result_id, {})[shard_id] = result.states
        self.late.extend(outcome.late)
        self.dead_letters.extend(outcome.dead_letters)


def merged_metrics(sink: MemorySink, jobs: Iterable[WindowJob]) -> dict[str, dict[str, Any]]:
    """result_id -> metrics merged over every shard's part (what the results table holds)."""
    by_name = {job.name: job for job in jobs}
    merged = {}
    for result_id, parts in sink.parts.items():
        job = by_name[sink.results[result_id].job]
        first, *others = sorted(parts)
        states = list(parts[first])
        for shard in others:
            states = merge_states(job, states, parts[shard])
        merged[result_id] = dict(finish(job, states))
    return merged


@dataclass
class MemoryStateStore:
    snapshots: dict[tuple[str, tuple[int, int]], bytes] = field(default_factory=dict)
    finals: dict[str, bytes] = field(default_factory=dict)

    def save_final(self, shard_id: str, blob: bytes) -> None:
        self.finals[shard_id] = blob

    def load_final(self, shard_id: str) -> bytes | None:
        return self.finals.get(shard_id)

    def save(self, shard_id: str, checkpoint: Checkpoint, blob: bytes) -> None:
        self.snapshots[(shard_id, checkpoint.key)] = blob

    def load(self, shard_id: str, checkpoint: Checkpoint) -> bytes | None:
        return self.snapshots.get((shard_id, checkpoint.key))

    def prune(self, shard_id: str, keep: Checkpoint) -> None:
        for key in [k for k in self.snapshots if k[0] == shard_id and k[1] < keep.key]:
            del self.snapshots[key]


@dataclass
class MemoryCheckpointer:
    """Records checkpoints; ``None`` is SHARD_END."""

    checkpoints: list[tuple[str | None, int | None]] = field(default_factory=list)

    def checkpoint(
        self, sequence_number: str | None = None, sub_sequence_number: int | None = None
    ) -> None:
        self.checkpoints.append((sequence_number, sub_sequence_number))

    @property
    def last(self) -> Checkpoint | None:
        for sequence, sub in reversed(self.checkpoints):
            if sequence is not None:
                return Checkpoint(sequence, sub or 0)
        return None
