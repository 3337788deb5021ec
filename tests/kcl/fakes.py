"""Record processors for the KCL tests: in-memory sinks, and user code that prints."""

from __future__ import annotations

from consumers.processor import NoParents, ParentLookup, ShardProcessor
from pipeline.aws.retry import Backoff
from pipeline.config import load_config
from pipeline.config import shipped_event_type as event_type
from pipeline.core.results import Outcome
from pipeline.core.shard import ShardCore
from pipeline.testing import BOUNDED, MemorySink, MemoryStateStore

JOBS = load_config(env={}).jobs_for("iot")

print("a library printing at import time")  # what the KCL child must survive


class PrintingSink(MemorySink):
    """User code with a stray print on every write."""

    def write(self, outcome: Outcome, shard_id: str) -> None:
        print(f"stray output from user code: {len(outcome.events)} events")
        super().write(outcome, shard_id)


def memory_processor(
    sink: MemorySink | None = None,
    state: MemoryStateStore | None = None,
    parents: ParentLookup | None = None,
    checkpoint_interval_s: float = 0.0,
) -> ShardProcessor:
    return ShardProcessor(
        lambda shard: ShardCore(event_type("iot"), JOBS, shard, BOUNDED),
        sink if sink is not None else MemorySink(),
        state if state is not None else MemoryStateStore(),
        checkpoint_interval_s=checkpoint_interval_s,
        backoff=Backoff(base_s=0, max_attempts=3, sleep=lambda _: None),
        parents=parents or NoParents(),
    )


def printing_processor() -> ShardProcessor:
    """The child's ``--factory`` in the stdout test."""
    return memory_processor(PrintingSink())
