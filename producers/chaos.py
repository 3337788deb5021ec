"""Chaos injection: what the producer does to the clean event stream, labelled in the truth.

Each injected anomaly is labelled on the record that carries it, so the ground truth says
exactly what a correct consumer must do with it. Injection uses its own seeded generator:
the same seed and rates give the same records.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: A duplicate is re-sent within this much event time of its original (a retry, seconds later);
#: keep it below the consumer's dedupe horizon, or the copy is (correctly) reported late.
MAX_DUPLICATE_DELAY_MS = 60_000


@dataclass(frozen=True)
class ChaosOptions:
    duplicates: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicates",):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be a rate between 0 and 1, got {rate}"
                )


@dataclass(frozen=True)
class Outgoing:
    """A record to send: partition key, payload bytes and the labels of what was injected."""

    partition_key: str
    data: bytes
    labels: dict[str, Any] = field(default_factory=dict)
    explicit_hash_key: str | None = None


def inject(
    records: Iterable[tuple[str, str, bytes, int]], options: ChaosOptions, seed: int
) -> Iterator[Outgoing]:
    """``(partition key, event id, payload, event time)`` in order -> records to send, with chaos.

    A duplicate is sent once the stream's event time has passed its due time (a random delay
    after its original, at most ``MAX_DUPLICATE_DELAY_MS``), or at the end.
    """
    rng = random.Random(seed ^ 0x5EED_C4A0)
    pending: list[tuple[int, int, Outgoing]] = []  # (due event time, order, record)
    order = 0
    for partition_key, event_id, data, ts in records:
        while pending and pending[0][0] <= ts:
            yield heapq.heappop(pending)[2]
        yield Outgoing(partition_key, data)
        if options.duplicates and rng.random() < options.duplicates:
            order += 1
            due = ts + rng.randint(1, MAX_DUPLICATE_DELAY_MS)
            heapq.heappush(
                pending, (due, order, Outgoing(partition_key, data, {"duplicate_of": event_id}))
            )
    while pending:
        yield heapq.heappop(pending)[2]
