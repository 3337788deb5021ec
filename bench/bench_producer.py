"""Producer throughput, against baselines measured in the same run.

1. Generation + JSON encoding + batching, no network, one core: the simulator through the chaos
   layer into PutRecords calls (a client that accepts everything), vs a plain loop of
   ``json.dumps`` over the same events already built as dicts.
2. On the embedded emulator: ``produce`` (simulate, plan calls, per-shard budgets, retries) vs
   the emulator's raw PutRecords rate with pre-built 500-record batches (200k records each,
   alternated ABBA over 4 runs, medians).
3. With KPL aggregation: user records per PutRecords call and per Kinesis record, and what one
   shard carries within its 1 MiB/s (measured on a one-shard stream, budgets on).

    python -m bench.bench_producer [--events 1000000] [--runs 3] [--quick] [--json out.json]
        [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from bench.stages import print_stages, stage_times
from pipeline.aws.clients import AwsClients
from pipeline.config import load_config
from pipeline.emulator import EmbeddedEmulator
from pipeline.runtime import tune_gc
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions, outgoing_blocks, produce, source_blocks
from producers.shards import SHARD_BYTES_PER_S
from producers.writer import KinesisWriter

#: Generation's stages, by the functions that implement them (``--profile``).
GENERATION_STAGES = {
    "simulate + encode (IotFleet._chunk)": [("producers/iot.py", "_chunk")],
    "  of which JSON encoding (JsonLayout.encode)": [("producers/encode.py", "encode")],
    "plan + build calls (KinesisWriter.put_block, close)": [
        ("producers/writer.py", "put_block"),
        ("producers/writer.py", "close"),
    ],
    "  of which record sizes (Block.sizes)": [("producers/block.py", "sizes")],
    "  of which PutRecords entries (_entries)": [("producers/writer.py", "_entries")],
}
EMULATOR_SHARDS = 64  # enough that the per-shard budgets (AWS's limits) do not bind
CHAOS = ChaosOptions(duplicates=0.02, out_of_order=0.05, late=0.01, malformed=0.01, hot_keys=0.01)


class AcceptingKinesis:
    """PutRecords that always succeeds, instantly: measures everything but the network."""

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1"}] * len(Records)}


def options_for(events: int, source: str = "iot", **extra: Any) -> ProduceOptions:
    """``events`` from a fleet of 20,000 (fewer for small runs, whose set-up would dominate)."""
    devices = max(100, min(20_000, events // 50))
    return ProduceOptions(source=source, devices=devices, seed=5, count=events, **extra)


def generation(options: ProduceOptions) -> float:
    """Events/s: simulate, encode, chaos, plan and build every PutRecords call."""
    started = time.perf_counter()
    writer = KinesisWriter(AcceptingKinesis(), "bench")
    for block in outgoing_blocks(options):
        writer.put_block(block)
    stats = writer.close()
    return stats.user_records / (time.perf_counter() - started)


def json_dumps_loop(options: ProduceOptions) -> float:
    dicts = [msgspec.json.decode(d) for b in source_blocks(options) for d in b.data]
    started = time.perf_counter()
    for event in dicts:
        json.dumps(event)
    return len(dicts) / (time.perf_counter() - started)


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def on_emulator(events: int, runs: int) -> dict[str, float]:
    with EmbeddedEmulator() as emulator:
        config = load_config(env={}).with_endpoint(emulator.endpoint_url)
        kinesis = AwsClients(config.aws).kinesis
        options = options_for(events)
        prebuilt = [
            [{"Data": d, "PartitionKey": k} for d, k in zip(b.data, b.keys, strict=True)]
            for b in outgoing_blocks(options)
        ]
        entries = [e for block in prebuilt for e in block]
        batches = [entries[i : i + 500] for i in range(0, len(entries), 500)]
        raw: list[float] = []
        ours: list[float] = []
        calls = 0
        for run in range(runs):  # alternated (ABBA), on fresh streams: both see the same emulator
            for who in ("raw", "ours") if run % 2 == 0 else ("ours", "raw"):
                stream = f"{who}{run}"
                kinesis.create_stream(StreamName=stream, ShardCount=EMULATOR_SHARDS)
                started = time.perf_counter()
                if who == "raw":
                    for batch in batches:
                        kinesis.put_records(StreamName=stream, Records=batch)
                    raw.append(len(entries) / (time.perf_counter() - started))
                else:
                    stats = produce(options, kinesis, stream)
                    ours.append(stats.user_records / (time.perf_counter() - started))
                    calls = stats.calls
        packed = _aggregated(kinesis, min(events, 40_000))
    return {
        "raw_put_records_per_s": statistics.median(raw),
        "ours_records_per_s": statistics.median(ours),
        "ours_over_raw": statistics.median(o / r for o, r in zip(ours, raw, strict=True)),
        "records_per_call": len(entries) / max(1, calls),
        **packed,
    }


def _aggregated(kinesis: Any, events: int) -> dict[str, float]:
    """Aggregated onto ONE shard, within its budget: what 1 MiB/s carries."""
    kinesis.create_stream(StreamName="packed", ShardCount=1)
    started = time.perf_counter()
    stats = produce(options_for(events, aggregate=True), kinesis, "packed")
    seconds = time.perf_counter() - started
    return {
        "aggregated_user_records_per_call": stats.user_records / max(1, stats.calls),
        "aggregated_user_records_per_kinesis_record": stats.user_records / max(1, stats.records),
        "one_shard_bytes_per_s": stats.bytes / seconds,
        "one_shard_user_records_per_s": stats.user_records / seconds,
        "one_shard_kinesis_records_per_s": stats.records / seconds,
    }


def _rows(figures: dict[str, Any]) -> list[tuple[str, float, float | None, str]]:
    """(figure, ours, baseline or None, what the baseline is) for the printed table."""
    emulator = figures["emulator"]
    return [
        (
            "generate+encode+batch iot, events/s (1 core)",
            figures["iot_per_s"],
            figures["iot_json_dumps_per_s"],
            "json.dumps loop",
        ),
        (
            "generate+encode+batch web, events/s (1 core)",
            figures["web_per_s"],
            figures["web_json_dumps_per_s"],
            "json.dumps loop",
        ),
        (
            "the same, iot with every chaos kind on",
            figures["iot_chaos_per_s"],
            figures["iot_json_dumps_per_s"],
            "json.dumps loop",
        ),
        (
            "emulator, records/s (64 shards)",
            emulator["ours_records_per_s"],
            emulator["raw_put_records_per_s"],
            "raw PutRecords, prebuilt batches",
        ),
        ("  records per PutRecords call (ours)", emulator["records_per_call"], None, ""),
        (
            "aggregated: user records per PutRecords call",
            emulator["aggregated_user_records_per_call"],
            None,
            "",
        ),
        (
            "aggregated: user records per Kinesis record",
            emulator["aggregated_user_records_per_kinesis_record"],
            None,
            "",
        ),
        (
            "aggregated, one shard: bytes/s",
            emulator["one_shard_bytes_per_s"],
            SHARD_BYTES_PER_S,
            "the shard's limit",
        ),
        (
            "aggregated, one shard: user records/s",
            emulator["one_shard_user_records_per_s"],
            1_000,
            "1,000 records/s without",
        ),
    ]


def _print_table(rows: list[tuple[str, float, float | None, str]]) -> None:
    print(f"{'figure':48} {'ours':>12} {'baseline':>12} {'ratio':>7}")
    for name, value, baseline, note in rows:
        base = f"{baseline:12,.0f} {value / baseline:7.2f}" if baseline else f"{'':12} {'':7}"
        print(f"{name:48} {value:12,.0f} {base}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small inputs, one run (CI)")
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--profile", action="store_true", help="also: where generation goes")
    args = parser.parse_args()
    events, runs = (50_000, 1) if args.quick else (args.events, args.runs)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    tune_gc()  # as the producer's CLI does (and the consumers): for both sides of every ratio
    iot, web = options_for(events), options_for(events, "web")
    if args.profile:  # first, as bench_core does
        profiled = stage_times(lambda: generation(iot), events, GENERATION_STAGES)
    figures: dict[str, Any] = {
        "iot_per_s": median_of(runs, lambda: generation(iot)),
        "iot_json_dumps_per_s": median_of(runs, lambda: json_dumps_loop(iot)),
        "web_per_s": median_of(runs, lambda: generation(web)),
        "web_json_dumps_per_s": median_of(runs, lambda: json_dumps_loop(web)),
        "iot_chaos_per_s": median_of(runs, lambda: generation(options_for(events, chaos=CHAOS))),
    }
    figures["emulator"] = on_emulator(min(events, 200_000), 2 if args.quick else 4)
    _print_table(_rows(figures))
    if args.profile:
        print_stages("generate+encode+batch iot", profiled)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
