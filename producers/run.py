"""A producer run: simulate -> chaos -> (aggregate) -> PutRecords, with the ground truth.

Event time follows the simulated clock; with ``speed`` set, sending is paced so that simulated
time advances ``speed`` times faster than real time, otherwise records go as fast as the
stream's shards take them (per-shard token buckets, and ``rate`` if given). At the end of a
bounded run, ``end_of_stream`` sends one control record to every open shard so that consumers
close their last windows deterministically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.retry import Backoff
from pipeline.config import shipped_event_type
from pipeline.core.errors import PipelineError
from pipeline.core.events.schema import EventType
from pipeline.core.shard import END_OF_STREAM
from producers.aggregation import Aggregator
from producers.batching import StreamClock
from producers.block import Block, Outgoing
from producers.chaos import DEFAULT_DISORDER_MS, DEFAULT_LATENESS_MS, ChaosOptions, inject
from producers.iot import IotFleet
from producers.shards import RATE_SHARE, SHARD_RECORDS_PER_S, ShardBudgets, ShardMap
from producers.synthetic import SyntheticSource
from producers.truth import TruthWriter
from producers.web import WebUsers
from producers.writer import MAX_ATTEMPTS, KinesisWriter, WriterStats

SOURCES = ("iot", "web", "synthetic", "file")
#: Sources of a declared event type (the others simulate a shipped one).
DECLARED_SOURCES = ("synthetic", "file")
DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed so that a seed fixes the bytes
#: With ``speed``, records due within this much real time go together.
_TICK_S = 0.05


@dataclass(frozen=True)
class ProduceOptions:
    source: str = "iot"
    devices: int = 50  # iot fleet size; web users
    minutes: float = 10.0  # simulated event time to cover
    count: int | None = None  # stop after this many clean events
    seed: int = 1
    start_ms: int = DEFAULT_START_MS
    speed: float = 0.0  # simulated seconds per real second; 0 = as fast as the stream allows
    rate: float | None = None  # records per second overall
    aggregate: bool = False
    spread: bool = False  # explicit hash keys: partition keys spread evenly over the shards
    chaos: ChaosOptions = field(default_factory=ChaosOptions)
    end_of_stream: bool = False
    truth: str | Path | None = None
    force: bool = False  # a --rate past the shards' limits: per-shard budgets off
    #: synthetic, file: the declared event type (iot, web: the shipped one of that name)
    etype: EventType | None = None
    #: synthetic, file: the smallest allowed lateness of the type's jobs (chaos defaults follow)
    job_lateness_ms: int = 30_000

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"--source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source in DECLARED_SOURCES and self.etype is None:
            raise ValueError(f"a {self.source} source needs its declared event type")
        if self.devices <= 0:
            raise ValueError(f"--devices must be positive, got {self.devices}")
        if self.minutes <= 0:
            raise ValueError(f"--minutes (--duration) must be positive, got {self.minutes}")
        if self.count is not None and self.count <= 0:
            raise ValueError(f"--count must be positive, got {self.count}")
        if self.speed < 0:
            raise ValueError(f"--speed must not be negative, got {self.speed}")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"--rate must be positive, got {self.rate}")
        if self.source == "file" and self.chaos.active:
            raise ValueError("chaos options apply to simulated sources, not to a file's records")
        lateness = DEFAULT_LATENESS_MS.get(self.source, self.job_lateness_ms)
        disorder = DEFAULT_DISORDER_MS.get(self.source, lateness // 3)
        object.__setattr__(self, "chaos", self.chaos.resolve(lateness, disorder))

    @property
    def event_type(self) -> EventType:
        return self.etype or shipped_event_type(self.source)


def source_blocks(options: ProduceOptions) -> Iterator[Block]:
    """The clean simulated records, in event-time order (deterministic for a seed)."""
    until = options.start_ms + int(options.minutes * 60_000)
    if options.count is not None:
        until = 2**62  # bounded by the count instead
    if options.source == "iot":
        blocks = IotFleet(options.devices, options.seed, options.start_ms).blocks(until)
    elif options.source == "web":
        blocks = WebUsers(options.devices, options.seed, options.start_ms).blocks(until)
    elif options.source == "synthetic":
        source = SyntheticSource(
            options.event_type, options.devices, options.seed, options.start_ms
        )
        blocks = source.blocks(until)
    else:
        raise ValueError("a file's records come from its FileSource, not from options")
    left = options.count
    for block in blocks:
        if left is not None and len(block) >= left:
            yield block.take(slice(0, left))
            return
        yield block
        if left is not None:
            left -= len(block)


def outgoing_blocks(
    options: ProduceOptions, records: Iterable[Block] | None = None
) -> Iterator[Block]:
    """The exact records a run sends, in order, a block at a time (deterministic for a seed).

    ``records`` replaces the simulated source (a file's records, sent as they are)."""
    if records is not None:
        return iter(records)
    blocks = source_blocks(options)
    if options.speed:
        blocks = _paced(blocks, options)
    return inject(blocks, options.chaos, options.seed, options.event_type)


def outgoing(options: ProduceOptions) -> Iterator[Outgoing]:
    """The same records one by one."""
    for block in outgoing_blocks(options):
        yield from block


def _paced(blocks: Iterator[Block], options: ProduceOptions) -> Iterator[Block]:
    """Each block's records as their simulated time comes, ``speed`` times faster than real."""
    started = time.monotonic()
    for block in blocks:
        sent = 0
        while sent < len(block):
            now = options.start_ms + (time.monotonic() - started) * options.speed * 1000
            due = int(np.searchsorted(block.ts, now, "right"))
            if due > sent:
                yield block.take(slice(sent, due))
                sent = due
            else:
                wait_s = (int(block.ts[sent]) - now) / options.speed / 1000
                time.sleep(min(_TICK_S, max(wait_s, 0.0)))


def write_file(options: ProduceOptions, path: str | Path) -> int:
    """``--to-file``: the records as NDJSON (one payload per line) instead of a stream."""
    count = 0
    with TruthWriter(options.truth) as truth, Path(path).open("wb") as out:
        for block in outgoing_blocks(options):
            if len(block):
                out.write(b"\n".join(block.data) + b"\n")
                truth.write_block(block)
                count += len(block)
    return count


def check_capacity(options: ProduceOptions, shard_map: ShardMap) -> None:
    """Refuse a rate the stream cannot take within its limits unless forced."""
    if options.rate is None or options.force or options.aggregate:
        return
    capacity = len(shard_map) * SHARD_RECORDS_PER_S * RATE_SHARE
    if options.rate > capacity:
        raise PipelineError(
            f"--rate {options.rate:g} records/s exceeds what the stream's {len(shard_map)} "
            f"shard(s) take within their limits ({capacity:,.0f} records/s: "
            f"{RATE_SHARE:.0%} of {SHARD_RECORDS_PER_S:,} per shard, the rest kept as burst); "
            "add shards, use --aggregate, or --force (then expect throttling and retries)"
        )


def produce(
    options: ProduceOptions,
    kinesis_client: object,
    stream: str,
    on_progress: Callable[[WriterStats], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    records: Iterable[Block] | None = None,
) -> WriterStats:
    """Send a whole run; raises DeliveryError if anything was not delivered.

    ``clock`` and ``sleep`` pace the shards' budgets and the retries' backoff (tests pass a
    simulated clock); ``records`` replaces the simulated source (a file's records)."""
    kinesis = KinesisStream(kinesis_client, stream)
    shard_map = ShardMap(kinesis.shards())  # also: the stream exists, before anything is sent
    check_capacity(options, shard_map)
    budgets = ShardBudgets(
        shard_map, rate=options.rate, per_shard=not options.force, sleep=sleep, clock=clock
    )
    spread = _spreader(shard_map) if options.spread else None
    aggregator = Aggregator(shard_map) if options.aggregate else None
    stream_clock = StreamClock()
    with TruthWriter(options.truth) as truth:
        writer = KinesisWriter(
            kinesis_client,
            stream,
            on_delivered=truth.write_block if options.truth else None,
            backoff=Backoff(max_attempts=MAX_ATTEMPTS, sleep=sleep),
            budgets=budgets,
            lateness_ms=options.chaos.allowed_lateness_ms,
            max_call_records=max(1, min(500, int(options.rate or 500))),
            on_progress=on_progress,
        )
        for block in outgoing_blocks(options, records):
            if spread is not None:
                block.hash_keys = [spread(key) for key in block.keys]
            ready = block
            if aggregator is not None:
                stream_clock.stamp(block)
                done = [aggregator.add(block)]
                if options.speed:  # paced: nothing waits for an aggregate to fill
                    done.append(aggregator.drain())
                ready = Block.concat(done)
            writer.put_block(ready)
            if options.speed:
                writer.flush()
        if aggregator is not None:
            writer.put_block(aggregator.drain())
        writer.flush()
        if options.end_of_stream:
            for shard_id, start_hash in kinesis.open_shard_hash_ranges():
                marker = {"control": "end_of_stream"}
                writer.put(Outgoing(shard_id, END_OF_STREAM, marker, str(start_hash)))
        return writer.close()


def _spreader(shard_map: ShardMap) -> Callable[[str], str]:
    """Partition keys -> the middle of the shards' hash ranges, round robin in first-seen order."""
    assigned: dict[str, str] = {}
    middles = [str((s.starting_hash_key + s.ending_hash_key) // 2) for s in shard_map.shards]

    def explicit_hash_key(partition_key: str) -> str:
        key = assigned.get(partition_key)
        if key is None:
            key = assigned[partition_key] = middles[len(assigned) % len(middles)]
        return key

    return explicit_hash_key
