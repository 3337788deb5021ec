"""Sinks: where a batch's outcome goes before its checkpoint.

The contract (as in quix-streams' ``flush()``): :meth:`OutputSink.write` returns only when every
output of the batch is durable, or raises :class:`~pipeline.core.errors.SinkError`; the caller then
must not checkpoint, and a restart replays from the last checkpoint. A sink outage is never
treated as bad input and never skipped.
"""

from __future__ import annotations

from typing import Protocol

from pipeline.core.records import Checkpoint
from pipeline.core.results import Outcome


class OutputSink(Protocol):
    def write(self, outcome: Outcome, shard_id: str) -> None:
        """Make every output of ``outcome`` durable, or raise SinkError."""


class StateStore(Protocol):
    def save(self, shard_id: str, checkpoint: Checkpoint, blob: bytes) -> None: ...

    def load(self, shard_id: str, checkpoint: Checkpoint) -> bytes | None: ...

    def prune(self, shard_id: str, keep: Checkpoint) -> None: ...


class ProgressStore(Protocol):
    """Where each shard says how far its results are final (alerts read complete windows).

    ``newest_event_time_ms``: every window a job closes at that newest event time (its end at
    or before it minus the job's lateness) has its results durable; ``ended``: the shard has
    written everything it ever will (SHARD_END or an end-of-stream marker).
    """

    def record(
        self, shard_id: str, newest_event_time_ms: int, ended: bool, parents: tuple[str, ...]
    ) -> None: ...
