"""Which windows are complete: every shard that can still add to them has passed their end.

A window merged from several shard parts is final only when every shard that can contribute has
closed it. Each record processor records how far its shard's results are final (its newest
event time, and whether it has ended: :class:`pipeline.aws.dynamodb.ProgressTable`). A shard of
the stream without a record yet inherits its parents' newest event time (a child adopts its
parents' watermark: what was late for them is late for it), and one with no record and no known
parent holds everything back. An ended shard holds nothing back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from pipeline.core.shard import END_TIME, NO_TIME


class Progress(Protocol):
    newest_event_time_ms: int
    ended: bool


def complete_before(
    shards: Iterable[tuple[str, tuple[str, ...]]], progress: Mapping[str, Progress]
) -> int:
    """The newest event time every shard of the stream (``(shard, parents)`` pairs) has
    reached: a window of a job with lateness L is complete when its end <= this - L."""
    parents_of = dict(shards)
    newest: dict[str, int] = {}

    def newest_of(shard: str) -> int:
        if shard not in newest:
            newest[shard] = NO_TIME  # no cycles in a lineage, but never loop on bad data
            recorded = progress.get(shard)
            if recorded is not None:
                newest[shard] = recorded.newest_event_time_ms
            else:
                known = [newest_of(p) for p in parents_of.get(shard, ()) if p in parents_of]
                newest[shard] = max(known, default=NO_TIME)
        return newest[shard]

    reached = [
        END_TIME if progress.get(s) is not None and progress[s].ended else newest_of(s)
        for s in parents_of
    ]
    return min(reached, default=NO_TIME)
