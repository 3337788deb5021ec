"""A producer run: simulate -> encode -> chaos -> PutRecords (+ ground truth).

Event time follows the simulated clock; with ``speed`` set, sending is paced so that simulated
time advances ``speed`` times faster than real time, otherwise records go as fast as the stream
takes them. At the end of a bounded run, ``end_of_stream`` sends one control record to every open
shard so that consumers close their last windows deterministically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from pipeline.aws.kinesis import KinesisStream
from pipeline.core import END_OF_STREAM
from producers.chaos import ChaosOptions, Outgoing, inject
from producers.iot import IotFleet
from producers.truth import TruthWriter
from producers.writer import KinesisWriter, WriterStats

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class ProduceOptions:
    devices: int = 50
    minutes: float = 10.0
    seed: int = 1
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed so a seed fixes the bytes
    speed: float = 0.0  # simulated seconds per real second; 0 = as fast as possible
    chaos: ChaosOptions = field(default_factory=ChaosOptions)
    end_of_stream: bool = False
    truth: str | Path | None = None

    def __post_init__(self) -> None:
        if self.devices <= 0:
            raise ValueError(f"--devices must be positive, got {self.devices}")
        if self.minutes <= 0:
            raise ValueError(f"--minutes must be positive, got {self.minutes}")
        if self.speed < 0:
            raise ValueError(f"--speed must not be negative, got {self.speed}")


def payloads(options: ProduceOptions) -> Iterator[tuple[str, str, bytes, int]]:
    """(partition key, event id, payload, event time) of the clean simulated events."""
    fleet = IotFleet(options.devices, options.seed, options.start_ms)
    until = options.start_ms + int(options.minutes * 60_000)
    for event in fleet.events(until):
        yield event.partition_key, event.event_id, _encode(event.as_dict()), event.ts


def outgoing(options: ProduceOptions) -> Iterator[Outgoing]:
    """The exact records a run sends, in order (deterministic for a seed)."""
    return inject(_paced(options), options.chaos, options.seed)


def _paced(options: ProduceOptions) -> Iterator[tuple[str, str, bytes, int]]:
    if not options.speed:
        yield from payloads(options)
        return
    started = time.monotonic()
    for item in payloads(options):
        due = started + (item[3] - options.start_ms) / 1000 / options.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield item


def produce(
    options: ProduceOptions,
    kinesis_client: object,
    stream: str,
    on_progress: Callable[[WriterStats], None] | None = None,
    progress_every: int = 5_000,
) -> WriterStats:
    """Send a whole run; raises DeliveryError if anything was not delivered."""
    with TruthWriter(options.truth) as truth:
        writer = KinesisWriter(
            kinesis_client, stream, on_delivered=lambda rs: [truth.write(r) for r in rs]
        )
        for n, record in enumerate(outgoing(options), start=1):
            writer.put(record)
            if on_progress and n % progress_every == 0:
                on_progress(writer.stats)
        writer.flush()
        if options.end_of_stream:
            for shard_id, start_hash in KinesisStream(
                kinesis_client, stream
            ).open_shard_hash_ranges():
                marker = Outgoing(
                    shard_id, END_OF_STREAM, {"control": "end_of_stream"}, str(start_hash)
                )
                writer.put(marker)
        return writer.close()
