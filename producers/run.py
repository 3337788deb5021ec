"""A producer run: simulate -> chaos -> (aggregate) -> PutRecords, with the ground truth.

Event time follows the simulated clock; with ``speed`` set, sending is paced so that simulated
time advances ``speed`` times faster than real time, otherwise records go as fast as the
stream's shards take them (per-shard token buckets, and ``rate`` if given). At the end of a
bounded run, ``end_of_stream`` sends one control record to every open shard so that consumers
close their last windows deterministically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.aws.kinesis import KinesisStream
from pipeline.core import END_OF_STREAM
from pipeline.errors import PipelineError
from producers.aggregation import Aggregator
from producers.chaos import ChaosOptions, Outgoing, SourceEvent, inject
from producers.iot import IotFleet
from producers.shards import SHARD_RECORDS_PER_S, ShardBudgets, ShardMap
from producers.truth import TruthWriter
from producers.web import WebUsers
from producers.writer import KinesisWriter, WriterStats

SOURCES = ("iot", "web")
DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed so that a seed fixes the bytes


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
    force: bool = False

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"--source must be one of {', '.join(SOURCES)}, got {self.source!r}")
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


def source_events(options: ProduceOptions) -> Iterator[SourceEvent]:
    """The clean simulated events, in event-time order (deterministic for a seed)."""
    until = options.start_ms + int(options.minutes * 60_000)
    if options.count is not None:
        until = 2**62  # bounded by the count instead
    if options.source == "iot":
        fleet = IotFleet(options.devices, options.seed, options.start_ms)
        events = (
            SourceEvent(e.partition_key, e.as_dict(), e.ts, "event_id", "ts", 1)
            for e in fleet.events(until)
        )
    else:
        users = WebUsers(options.devices, options.seed, options.start_ms)
        events = (
            SourceEvent(c.partition_key, c.as_dict(), c.ts, "event_id", "recordTime", 1000)
            for c in users.events(until)
        )
    for n, event in enumerate(events, start=1):
        yield event
        if options.count is not None and n >= options.count:
            return


def outgoing(options: ProduceOptions) -> Iterator[Outgoing]:
    """The exact records a run sends, in order (deterministic for a seed)."""
    return inject(_paced(options), options.chaos, options.seed)


def _paced(options: ProduceOptions) -> Iterator[SourceEvent]:
    if not options.speed:
        yield from source_events(options)
        return
    started = time.monotonic()
    for event in source_events(options):
        delay = started + (event.ts - options.start_ms) / 1000 / options.speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield event


def write_file(options: ProduceOptions, path: str | Path) -> int:
    """``--to-file``: the records as NDJSON (one payload per line) instead of a stream."""
    count = 0
    with TruthWriter(options.truth) as truth, Path(path).open("wb") as out:
        for record in outgoing(options):
            out.write(record.data + b"\n")
            truth.write(record)
            count += 1
    return count


def check_capacity(options: ProduceOptions, shard_map: ShardMap) -> None:
    """Refuse a rate the stream cannot take (1,000 records/s per shard) unless forced."""
    if options.rate is None or options.force or options.aggregate:
        return
    capacity = len(shard_map) * SHARD_RECORDS_PER_S
    if options.rate > capacity:
        raise PipelineError(
            f"--rate {options.rate:g} records/s exceeds the stream's {len(shard_map)} shard(s) "
            f"x {SHARD_RECORDS_PER_S} records/s; add shards, use --aggregate, or --force"
        )


def produce(
    options: ProduceOptions,
    kinesis_client: object,
    stream: str,
    on_progress: Callable[[WriterStats], None] | None = None,
    progress_every: int = 5_000,
) -> WriterStats:
    """Send a whole run; raises DeliveryError if anything was not delivered."""
    kinesis = KinesisStream(kinesis_client, stream)
    shard_map = ShardMap(kinesis.shards())  # also: the stream exists, before anything is sent
    check_capacity(options, shard_map)
    budgets = ShardBudgets(shard_map, rate=options.rate)
    spread = _spreader(shard_map) if options.spread else None
    aggregator = Aggregator(shard_map) if options.aggregate else None
    with TruthWriter(options.truth) as truth:

        def delivered(records: list[Outgoing]) -> None:
            for record in records:
                for member in record.members or (record,):
                    truth.write(member)

        writer = KinesisWriter(kinesis_client, stream, on_delivered=delivered, budgets=budgets)
        for n, produced in enumerate(outgoing(options), start=1):
            record = produced
            if spread is not None:
                record = replace(produced, explicit_hash_key=spread(produced.partition_key))
            for ready in aggregator.add(record) if aggregator else (record,):
                writer.put(ready)
            if on_progress and n % progress_every == 0:
                on_progress(writer.stats)
        for ready in aggregator.drain() if aggregator else ():
            writer.put(ready)
        writer.flush()
        if options.end_of_stream:
            for shard_id, start_hash in KinesisStream(
                kinesis_client, stream
            ).open_shard_hash_ranges():
                writer.put(
                    Outgoing(shard_id, END_OF_STREAM, {"control": "end_of_stream"}, str(start_hash))
                )
        stats = writer.close()
        if on_progress:
            on_progress(stats)
        return stats


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
