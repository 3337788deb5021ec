"""Producer throughput, against baselines measured in the same run.

1. Generation + JSON encoding + batching, no network, one core: the IoT simulator through the
   chaos layer into PutRecords batches (a client that accepts everything), vs a plain loop of
   ``json.dumps`` over the same events already built as dicts.
2. On the embedded emulator: ``produce`` (simulate, batch, per-shard budgets, retries, truth) vs
   the emulator's raw PutRecords rate with pre-built 500-record batches.
3. With KPL aggregation: user records per PutRecords call and per Kinesis record, and what one
   shard's 1 MiB/s carries in user records.

    python -m bench.bench_producer [--events 300000] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from pipeline.aws.clients import AwsClients
from pipeline.config import load_config
from pipeline.emulator import EmbeddedEmulator
from producers.chaos import Outgoing
from producers.run import ProduceOptions, outgoing, produce, source_events
from producers.shards import SHARD_BYTES_PER_S
from producers.writer import KinesisWriter

EVENTS_PER_DEVICE_MINUTE = 7.3
SHARDS = 64


class AcceptingKinesis:
    """PutRecords that always succeeds, instantly: measures everything but the network."""

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "FailedRecordCount": 0,
            "Records": [{"SequenceNumber": "1", "ShardId": "s"}] * len(Records),
        }


def options_for(events: int, **extra: Any) -> ProduceOptions:
    minutes = 10.0
    devices = max(10, round(events / (EVENTS_PER_DEVICE_MINUTE * minutes)))
    return ProduceOptions(devices=devices, minutes=minutes, seed=5, count=events, **extra)


def generation(events: int) -> tuple[float, int]:
    started = time.perf_counter()
    writer = KinesisWriter(AcceptingKinesis(), "bench")
    for record in outgoing(options_for(events)):
        writer.put(record)
    writer.close()
    return time.perf_counter() - started, writer.stats.user_records


def json_dumps_loop(events: int) -> tuple[float, int]:
    dicts = [e.event for e in source_events(options_for(events))]
    started = time.perf_counter()
    for event in dicts:
        json.dumps(event)
    return time.perf_counter() - started, len(dicts)


def on_emulator(events: int, aggregate: bool) -> dict[str, float]:
    with EmbeddedEmulator() as emulator:
        config = load_config(env={}).with_endpoint(emulator.endpoint_url)
        kinesis = AwsClients(config.aws).kinesis
        ours_stream, raw_stream = (
            f"bench-ours-{aggregate}",
            f"bench-raw-{aggregate}",
        )  # moto is global
        # enough shards that the per-shard budgets (AWS limits) do not bind: this measures overhead
        kinesis.create_stream(StreamName=ours_stream, ShardCount=SHARDS)
        kinesis.create_stream(StreamName=raw_stream, ShardCount=SHARDS)
        prebuilt = [Outgoing(r.partition_key, r.data) for r in outgoing(options_for(events))]
        batches = [
            [{"Data": r.data, "PartitionKey": r.partition_key} for r in prebuilt[i : i + 500]]
            for i in range(0, len(prebuilt), 500)
        ]
        started = time.perf_counter()
        for batch in batches:
            kinesis.put_records(StreamName=raw_stream, Records=batch)
        raw_s = time.perf_counter() - started
        started = time.perf_counter()
        stats = produce(options_for(events, aggregate=aggregate), kinesis, ours_stream)
        ours_s = time.perf_counter() - started
    return {
        "raw_put_records_per_s": len(prebuilt) / raw_s,
        "ours_records_per_s": stats.user_records / ours_s,
        "ours_over_raw": (stats.user_records / ours_s) / (len(prebuilt) / raw_s),
        "user_records_per_call": stats.user_records / max(1, stats.calls),
        "user_records_per_kinesis_record": stats.user_records / max(1, stats.records),
        "bytes_per_user_record": stats.bytes / max(1, stats.user_records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small inputs, one run (CI)")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    events, runs = (20_000, 1) if args.quick else (args.events, args.runs)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    ours = statistics.median(n / s for s, n in (generation(events) for _ in range(runs)))
    dumps = statistics.median(n / s for s, n in (json_dumps_loop(events) for _ in range(runs)))
    plain = on_emulator(min(events, 60_000), aggregate=False)
    packed = on_emulator(min(events, 60_000), aggregate=True)
    per_shard = SHARD_BYTES_PER_S / packed["bytes_per_user_record"]
    figures = {
        "generation_encoding_batching_per_s": ours,
        "json_dumps_loop_per_s": dumps,
        "generation_over_json_dumps": ours / dumps,
        "emulator": plain,
        "aggregated": packed,
        "user_records_per_shard_per_s_at_1MiB": per_shard,
    }
    rows = [
        ("generate+encode+batch, events/s (1 core)", ours, dumps, "json.dumps loop"),
        (
            "emulator PutRecords, records/s",
            plain["ours_records_per_s"],
            plain["raw_put_records_per_s"],
            "pre-built batches",
        ),
        ("aggregated: user records per PutRecords call", packed["user_records_per_call"], None, ""),
        (
            "aggregated: user records per Kinesis record",
            packed["user_records_per_kinesis_record"],
            None,
            "",
        ),
        (
            "aggregated: user records/s one shard carries",
            per_shard,
            None,
            f"1 MiB/s / {packed['bytes_per_user_record']:.0f} B",
        ),
    ]
    print(f"{'figure':46} {'ours':>12} {'baseline':>12} {'ratio':>7}")
    for name, value, baseline, note in rows:
        base = f"{baseline:12,.0f} {value / baseline:7.2f}" if baseline else f"{'':12} {'':7}"
        print(f"{name:46} {value:12,.0f} {base}  {note}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
