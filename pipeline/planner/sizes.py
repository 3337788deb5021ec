"""Row sizes the planner derives from an event type's declaration.

A record's size is what Kinesis meters (data plus partition key); without a measured figure,
the mean over a seeded synthetic sample of the declared type is a fair estimate: every field
present nine times in ten, strings at their declared choices, patterns or lengths.
"""

from __future__ import annotations

from pipeline.core.events.schema import EventType
from producers.simulation import MIN_START_MS
from producers.synthetic import SyntheticSource

SAMPLE_EVENTS = 1_000


def estimated_event_bytes(etype: EventType) -> int:
    """The mean bytes (data plus partition key) of a synthetic sample of ``etype`` events."""
    source = SyntheticSource(etype, keys=100, seed=0, start_ms=MIN_START_MS, interval_ms=1_000)
    sizes: list[int] = []
    for block in source.blocks(MIN_START_MS + 60_000):
        sizes.extend(block.sizes().tolist())
        if len(sizes) >= SAMPLE_EVENTS:
            break
    return max(1, round(sum(sizes) / len(sizes)))
