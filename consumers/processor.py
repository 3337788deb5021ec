"""The record processor: lifecycle -> core -> sinks -> state snapshot -> checkpoint.

The order inside ``process_records`` is the durability contract: the batch's outputs are
written (the sink returns only when they are durable), then, when a checkpoint is due, the state
snapshot for the batch's last position is saved, and only then is the checkpoint recorded. A
crash anywhere replays from the previous checkpoint with that checkpoint's state: results are
rewritten identically (DynamoDB overwrites), appended rows carry deterministic ids.

Checkpoint failures are handled as the KCL documents them: ``ThrottlingException`` is retried
with backoff (and otherwise left to the next checkpoint), ``ShutdownException`` means the lease is
gone (stop checkpointing), ``InvalidStateException`` is fatal. ``lease_lost`` never checkpoints.

Resharding: at shard end the shard's parts of every open window are written, then a *final*
snapshot (for the children), and only then the SHARD_END checkpoint, so that children (which the
KCL and the local engine start only after every parent's SHARD_END) always find it. A shard
starting without a checkpoint of its own adopts each parent's final snapshot (dedupe memory and
watermark) before its first record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from consumers.lifecycle import (
    UNCHECKPOINTED,
    Checkpointer,
    CheckpointFailed,
    InitializeInput,
    LeaseLostInput,
    ProcessRecordsInput,
    ShardEndedInput,
    ShutdownRequestedInput,
)
from pipeline.aws.retry import Backoff
from pipeline.core.errors import StateError
from pipeline.core.records import Checkpoint
from pipeline.core.results import Counters, Outcome
from pipeline.core.shard import NO_TIME, ShardCore
from pipeline.core.sinks import OutputSink, ProgressStore, StateStore

log = logging.getLogger(__name__)


class ParentLookup(Protocol):
    def parents(self, shard_id: str) -> tuple[str, ...]:
        """The shard's parents (one after a split, two after a merge) still in the stream."""


class ShardStateStore(StateStore, Protocol):
    """Snapshots keyed by checkpoint, plus one final snapshot per ended shard."""

    def save_final(self, shard_id: str, blob: bytes) -> None: ...

    def load_final(self, shard_id: str) -> bytes | None: ...


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Clocks:
    """The processor's clocks (tests inject their own): ``monotonic`` seconds pace the
    checkpoints, ``wall_ms`` (epoch ms) stands in for a record's missing arrival time and
    times a quiet shard's idleness."""

    monotonic: Callable[[], float] = time.monotonic
    wall_ms: Callable[[], int] = _wall_ms


class NoParents:
    """A stream that is never resharded (tests, replays of one shard)."""

    def parents(self, shard_id: str) -> tuple[str, ...]:
        return ()


class ShardProcessor:
    """Processes one shard lease. One instance per shard, as the KCL creates them."""

    def __init__(  # noqa: PLR0913 - collaborators injected for tests, each with a default
        self,
        make_core: Callable[[str], ShardCore],
        sink: OutputSink,
        state: ShardStateStore,
        checkpoint_interval_s: float = 5.0,
        clocks: Clocks | None = None,
        backoff: Backoff | None = None,
        parents: ParentLookup | None = None,
        progress: ProgressStore | None = None,
    ) -> None:
        self._make_core = make_core
        self._sink = sink
        self._state = state
        self._parents = parents or NoParents()
        self._progress = progress
        self._progress_recorded = (NO_TIME, 0.0)  # newest event time recorded, and when
        self._interval = checkpoint_interval_s
        clocks = clocks or Clocks()
        self._clock = clocks.monotonic
        self._wall_clock = clocks.wall_ms
        self._backoff = backoff or Backoff(max_attempts=5)
        self.shard_id = ""
        self.core: ShardCore | None = None
        self.position: Checkpoint | None = None  # last record processed
        self.checkpointed: Checkpoint | None = None  # last checkpoint recorded
        self.millis_behind_latest = 0
        self.shut_down = False
        self._last_checkpoint_at = 0.0

    @property
    def counters(self) -> Counters:
        return self.core.counters if self.core else Counters()

    @property
    def ended(self) -> bool:
        """The shard's input is complete (end-of-stream marker) and checkpointed past it."""
        return bool(self.core and self.core.ended and self.checkpointed == self.position)

    def initialize(self, init: InitializeInput) -> None:
        """Continue from the checkpoint's state snapshot, or start fresh from the parents'.

        A missing or unusable snapshot raises :class:`StateError` naming the shard, and no state
        is kept: results would be wrong.
        """
        self.shard_id = init.shard_id
        self._last_checkpoint_at = self._clock()
        core = self._make_core(init.shard_id)
        sequence = init.sequence_number
        if sequence is None or sequence in UNCHECKPOINTED:
            log.info("shard starts fresh", extra={"shard": self.shard_id, "position": sequence})
            self._adopt_parents(core)
            self.core = core
            return
        checkpoint = Checkpoint(sequence, init.sub_sequence_number or 0)
        blob = self._state.load(self.shard_id, checkpoint)
        if blob is None:
            raise StateError(
                f"{self.shard_id}: checkpoint {checkpoint} has no state snapshot; refusing to "
                "start without it (results would be wrong)"
            )
        try:
            core.restore(blob)
        except StateError as exc:
            raise StateError(f"{self.shard_id}: checkpoint {checkpoint}'s snapshot: {exc}") from exc
        self.core = core
        self.position = self.checkpointed = checkpoint
        log.info("shard restored", extra={"shard": self.shard_id, "checkpoint": str(checkpoint)})

    def process_records(self, batch: ProcessRecordsInput) -> None:
        """A batch of records, or an empty one (the engine's idle tick: a quiet shard's windows
        close on the wall clock after the idle timeout)."""
        core = self._require_core()
        self.millis_behind_latest = batch.millis_behind_latest
        if not batch.records:
            self._durably(lambda: core.tick(self._wall_clock()))
            self._record_progress(core)
            return
        records = batch.records
        # Re-delivered records (at or before the position: after a restart inside a KPL
        # aggregate) lead a batch, which is in shard order: when its first record is new, all
        # are, and no record's position is computed (a quarter of the path's time per record).
        if self.position is not None and records[0].position <= self.position.key:
            position = self.position.key
            records = [r for r in records if r.position > position]
        if not records:
            return
        self._durably(lambda: core.process(records, self._wall_clock()))
        self.position = Checkpoint.of(records[-1])
        if core.ended or self._clock() - self._last_checkpoint_at >= self._interval:
            self._checkpoint(batch.checkpointer)

    def _durably(self, step: Callable[[], Outcome]) -> None:
        """Run a step of the core and make its outcome durable (an idle tick's only when it
        closed windows); on any failure the core's state is dropped."""
        try:
            outcome = step()
            if outcome.counters.records or outcome.results:
                self._sink.write(outcome, self.shard_id)
        except BaseException:
            # The in-memory state is now ahead of what is durable: it must never be snapshotted.
            # Drop it; a restart replays from the last checkpoint with that checkpoint's state.
            self.core = None
            raise

    def lease_lost(self, _: LeaseLostInput) -> None:
        log.info("lease lost; dropping state", extra={"shard": self.shard_id})
        self.core = None
        self.shut_down = True

    def shard_ended(self, ended: ShardEndedInput) -> None:
        """Close this shard's windows, save the children's snapshot, then checkpoint SHARD_END."""
        core = self._require_core()
        try:
            outcome = core.close_windows()
            if outcome.results:
                self._sink.write(outcome, self.shard_id)
            self._state.save_final(self.shard_id, core.snapshot())
        except BaseException:
            self.core = None  # windows closed in memory but not durably: never reuse
            raise
        self._checkpoint_with_retry(ended.checkpointer, None)
        self._record_progress(core, ended=True)
        self.shut_down = True
        log.info("shard ended", extra={"shard": self.shard_id})

    def _adopt_parents(self, core: ShardCore) -> None:
        for parent in self._parents.parents(self.shard_id):
            blob = self._state.load_final(parent)
            if blob is None:  # a parent this application never consumed (older than it)
                log.warning(
                    "parent shard has no final snapshot; starting without its state",
                    extra={"shard": self.shard_id, "parent": parent},
                )
                continue
            try:
                core.adopt_parent(blob)
            except StateError as exc:
                raise StateError(f"{self.shard_id}: parent {parent}'s snapshot: {exc}") from exc
            log.info("adopted parent state", extra={"shard": self.shard_id, "parent": parent})

    def shutdown_requested(self, request: ShutdownRequestedInput) -> None:
        if (
            self.core is not None
            and self.position is not None
            and self.position != self.checkpointed
        ):
            self._checkpoint(request.checkpointer)
        self.shut_down = True

    def _require_core(self) -> ShardCore:
        if self.core is None:
            raise StateError("record processor used before initialize or after lease loss")
        return self.core

    def _checkpoint(self, checkpointer: Checkpointer) -> None:
        core = self._require_core()
        position = self.position
        if position is None or position == self.checkpointed:
            return
        self._state.save(self.shard_id, position, core.snapshot())
        if self._checkpoint_with_retry(checkpointer, position):
            self.checkpointed = position
            self._last_checkpoint_at = self._clock()
            self._record_progress(core, ended=core.ended)
            self._state.prune(self.shard_id, position)

    def _record_progress(self, core: ShardCore, ended: bool = False) -> None:
        """Tell the progress store how far this shard's results are final: at most once per
        checkpoint interval (an idle shard's watermark moves without checkpoints), and only
        after its outputs are durable."""
        newest, at = self._progress_recorded
        now = self._clock()
        if self._progress is None or (not ended and core.newest_event_time_ms <= newest):
            return
        if not ended and now - at < self._interval:
            return
        parents = self._parents.parents(self.shard_id)
        self._progress.record(self.shard_id, core.newest_event_time_ms, ended, parents)
        self._progress_recorded = (core.newest_event_time_ms, now)

    def _checkpoint_with_retry(
        self, checkpointer: Checkpointer, position: Checkpoint | None
    ) -> bool:
        sequence = position.sequence_number if position else None
        sub = position.sub_sequence_number if position else None
        for attempt in range(1, self._backoff.max_attempts + 1):
            try:
                checkpointer.checkpoint(sequence, sub)
                return True
            except CheckpointFailed as exc:
                if exc.kind == "ThrottlingException":
                    self._backoff.pause(attempt)
                    continue
                if exc.kind == "ShutdownException":
                    log.info("checkpoint refused: shutting down", extra={"shard": self.shard_id})
                    self.shut_down = True
                    return False
                raise
        log.warning("checkpoint throttled; deferred", extra={"shard": self.shard_id})
        return False
