"""Chaos injection: what the producer does to the clean event stream, labelled in the truth.

Each anomaly is labelled on the record that carries it, so the ground truth says what a correct
consumer must do with it:

* ``duplicate_of``: an exact copy of an earlier record, re-sent within
  ``MAX_DUPLICATE_DELAY_MS`` of event time (a retry): dropped by dedupe;
* ``out_of_order``: an event held back by up to ``max_disorder_ms`` (below the lateness): counted
  normally;
* ``late``: an event whose event time lies more than ``lateness`` plus 10 minutes behind the
  events sent just before it under the same partition key: reported late, never counted;
* ``malformed``: a record that is not a valid event (``invalid_json``, ``invalid_utf8``,
  ``missing_field``, ``mistyped_field``, ``absurd_value``, ``duplicate_key``, ``oversized``):
  dead-lettered;
* ``hot_key``: sent under one hot partition key instead of its own (load skew): counted normally.

Out-of-order and late hold for the order the producer sends records in; a put that is retried
after a partial failure lands after the rest of its batch, which can reorder it further (the
consumer then judges it by its actual arrival). Injection uses its own seeded generator: the same
seed and rates give the same records.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

#: A duplicate is re-sent within this much event time of its original (a retry, seconds later);
#: keep it below the consumer's dedupe horizon, or the copy is (correctly) reported late.
MAX_DUPLICATE_DELAY_MS = 60_000
#: Late events are this much older than the lateness requires: late for any window up to 10 m.
LATE_MARGIN_MS = 600_000
HOT_KEY = "hot-key-0"
#: Oversized records: too big to be an event (the consumer's limit is 256 KiB), small enough
#: for a Kinesis record (1 MiB).
OVERSIZED_BYTES = 400_000
MALFORMED_KINDS = (
    "invalid_json",
    "invalid_utf8",
    "missing_field",
    "mistyped_field",
    "absurd_value",
    "duplicate_key",
    "oversized",
)

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class ChaosOptions:
    duplicates: float = 0.0
    out_of_order: float = 0.0
    max_disorder_ms: int = 10_000
    late: float = 0.0
    lateness_ms: int = 30_000
    malformed: float = 0.0
    hot_keys: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicates", "out_of_order", "late", "malformed", "hot_keys"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be a rate between 0 and 1, got {rate}"
                )
        if self.max_disorder_ms < 0 or self.lateness_ms < 0:
            raise ValueError("--max-disorder and --lateness must not be negative")
        if self.out_of_order and self.max_disorder_ms >= self.lateness_ms:
            raise ValueError(
                f"--max-disorder ({self.max_disorder_ms} ms) must be below --lateness "
                f"({self.lateness_ms} ms): out-of-order events must still be on time"
            )


@dataclass(frozen=True)
class Outgoing:
    """A record to send: partition key, payload bytes and the labels of what was injected."""

    partition_key: str
    data: bytes
    labels: dict[str, Any] = field(default_factory=dict)
    explicit_hash_key: str | None = None
    #: the user records of a KPL aggregate (empty for an ordinary record)
    members: tuple[Outgoing, ...] = ()


@dataclass(frozen=True)
class SourceEvent:
    """One clean event of a simulated source."""

    partition_key: str
    event: dict[str, Any]
    ts: int  # event time, epoch ms
    id_field: str
    time_field: str
    time_scale_ms: int  # 1 for ms, 1000 for seconds


def inject(events: Iterable[SourceEvent], options: ChaosOptions, seed: int) -> Iterator[Outgoing]:
    """Clean events in event-time order -> the records to send, chaos included."""
    rng = random.Random(seed ^ 0x5EED_C4A0)
    pending: list[tuple[int, int, Outgoing]] = []  # (due event time, order, record)
    order = 0
    seen_keys: set[str] = set()
    for source in events:
        while pending and pending[0][0] <= source.ts:
            yield heapq.heappop(pending)[2]
        draw = rng.random()
        record = _clean(source, rng, options)
        if options.malformed and draw < options.malformed:
            kind = rng.choice(MALFORMED_KINDS)
            yield Outgoing(record.partition_key, malformed(source, kind), {"malformed": kind})
            continue
        draw -= options.malformed
        if options.late and draw < options.late and source.partition_key in seen_keys:
            yield _late(source, options)
            continue
        draw -= options.late
        seen_keys.add(source.partition_key)
        if options.out_of_order and draw < options.out_of_order:
            order += 1
            delay = rng.randint(1, max(1, options.max_disorder_ms))
            held = Outgoing(
                record.partition_key, record.data, {**record.labels, "out_of_order": True}
            )
            heapq.heappush(pending, (source.ts + delay, order, held))
            continue
        yield record
        if options.duplicates and rng.random() < options.duplicates:
            order += 1
            copy = Outgoing(
                record.partition_key,
                record.data,
                {**record.labels, "duplicate_of": source.event[source.id_field]},
            )
            heapq.heappush(
                pending, (source.ts + rng.randint(1, MAX_DUPLICATE_DELAY_MS), order, copy)
            )
    while pending:
        yield heapq.heappop(pending)[2]


def _clean(source: SourceEvent, rng: random.Random, options: ChaosOptions) -> Outgoing:
    if options.hot_keys and rng.random() < options.hot_keys:
        return Outgoing(HOT_KEY, _encode(source.event), {"hot_key": True})
    return Outgoing(source.partition_key, _encode(source.event))


def _late(source: SourceEvent, options: ChaosOptions) -> Outgoing:
    """The event as if produced long ago: its time is far behind the stream's."""
    event = dict(source.event)
    old_ms = source.ts - options.lateness_ms - LATE_MARGIN_MS
    event[source.time_field] = (
        old_ms if source.time_scale_ms == 1 else old_ms / source.time_scale_ms
    )
    event[source.id_field] = f"{event[source.id_field]}-late"
    return Outgoing(source.partition_key, _encode(event), {"late": True})


def malformed(source: SourceEvent, kind: str) -> bytes:
    """A record of the given malformed kind, built from a clean event."""
    event = dict(source.event)
    data = _encode(event)
    if kind == "invalid_json":
        return data[: max(1, len(data) // 2)]
    if kind == "invalid_utf8":
        return data[:-1] + b',"note":"\xc3\x28"}'
    if kind == "missing_field":
        event.pop(source.id_field)
        return _encode(event)
    if kind == "mistyped_field":
        event[source.time_field] = str(event[source.time_field])
        return _encode(event)
    if kind == "absurd_value":
        event[source.time_field] = 10**15 if source.time_scale_ms == 1 else 10**12
        return _encode(event)
    if kind == "duplicate_key":
        return data[:-1] + b"," + _encode({source.id_field: "again"})[1:]
    if kind == "oversized":
        return data[:-1] + b',"padding":"' + b"x" * OVERSIZED_BYTES + b'"}'
    raise ValueError(f"unknown malformed kind {kind!r}")
