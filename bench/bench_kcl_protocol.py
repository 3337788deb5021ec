"""The KCL adapter's cost: records/s through the MultiLangDaemon's JSON-lines protocol.

The same records reach the same record processor three times in one run: framed as the daemon
frames them (base64 data in ``processRecords`` JSON lines), parsed by the child's
``FramedKCLProcess`` (consumers/kcl/framing.py) and by amazon_kclpy's own ``KCLProcess``; and
handed over directly as raw records. No network,
no sinks (an in-memory sink): the ratio is the protocol adapter's overhead.

    python -m bench.bench_kcl_protocol [--events 200000] [--runs 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import time
from pathlib import Path

from amazon_kclpy.kcl import KCLProcess

from bench.bench_core import ReferenceJob
from bench.reference_input import reference_lines
from consumers.kcl.adapter import KclRecordProcessor
from consumers.kcl.framing import FramedKCLProcess
from consumers.lifecycle import InitializeInput, ProcessRecordsInput
from consumers.processor import ShardProcessor
from pipeline.config import shipped_event_type as event_type
from pipeline.config import shipped_types
from pipeline.core.records import RawRecord
from pipeline.core.shard import ShardCore
from pipeline.core.windows.spec import compile_jobs
from pipeline.runtime import tune_gc
from pipeline.testing import MemoryCheckpointer, MemoryStateStore

BATCH = 10_000  # the KCL's default maxRecords
SHARD = "shardId-000000000000"


class NullSink:
    def write(self, outcome: object, shard_id: str) -> None:
        """Discard: the sinks are not what this measures."""


def processor() -> ShardProcessor:
    jobs = compile_jobs([ReferenceJob()], shipped_types())
    return ShardProcessor(
        lambda shard: ShardCore(event_type("iot"), jobs, shard), NullSink(), MemoryStateStore(), 1e9
    )


def daemon_input(lines: list[bytes]) -> str:
    """What the MultiLangDaemon writes to a child's stdin for these records."""
    messages = [
        {
            "action": "initialize",
            "shardId": SHARD,
            "sequenceNumber": "TRIM_HORIZON",
            "subSequenceNumber": 0,
        }
    ]
    for start in range(0, len(lines), BATCH):
        records = [
            {
                "action": "record",
                "data": base64.b64encode(line).decode(),
                "partitionKey": "pk",
                "sequenceNumber": str(start + i + 1),
                "subSequenceNumber": 0,
                "approximateArrivalTimestamp": 1_767_225_600_000,
            }
            for i, line in enumerate(lines[start : start + BATCH])
        ]
        messages.append({"action": "processRecords", "records": records, "millisBehindLatest": 0})
    return "".join(json.dumps(m) + "\n" for m in messages)


def through_protocol(stdin_text: str, process: type = FramedKCLProcess) -> float:
    # as the child's sys.stdin: UTF-8 text over a buffered binary stream (not timed: the copy
    # of the whole input into memory is the pipe's job)
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(stdin_text.encode())), encoding="utf-8")
    started = time.perf_counter()
    process(KclRecordProcessor(processor()), stdin, io.StringIO(), io.StringIO()).run()
    return time.perf_counter() - started


def direct(records: list[RawRecord]) -> float:
    started = time.perf_counter()
    target = processor()
    target.initialize(InitializeInput(SHARD, "TRIM_HORIZON"))
    checkpointer = MemoryCheckpointer()
    for start in range(0, len(records), BATCH):
        target.process_records(ProcessRecordsInput(records[start : start + BATCH], checkpointer))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    tune_gc()
    lines = reference_lines(args.events)
    records = [RawRecord(line, "pk", str(i + 1)) for i, line in enumerate(lines)]
    stdin_text = daemon_input(lines)
    through_protocol(stdin_text), direct(records)  # warm up: imports and caches, not timed
    rounds = [  # interleaved: a shared machine's load weighs on every path alike
        (through_protocol(stdin_text), direct(records), through_protocol(stdin_text, KCLProcess))
        for _ in range(args.runs)
    ]
    protocol, plain, kclpy = (statistics.median(times) for times in zip(*rounds, strict=True))
    # each round's own ratio too: on a machine whose speed moves between runs, a round's two
    # paths ran one after the other, the medians' maybe a minute apart
    paired = statistics.median(direct_s / protocol_s for protocol_s, direct_s, _ in rounds)
    figures = {
        "records": len(records),
        "through_protocol_per_s": len(records) / protocol,
        "through_amazon_kclpy_parser_per_s": len(records) / kclpy,
        "direct_per_s": len(records) / plain,
        "protocol_over_direct": plain / protocol,
        "amazon_kclpy_parser_over_direct": plain / kclpy,
        "protocol_over_direct_median_of_rounds": paired,
    }
    print(f"{len(records):,} records, batches of {BATCH:,}, median of {args.runs} runs")
    print(f"{'path':44} {'records/s':>12} {'/ direct':>9}")
    for name, key, ratio in (
        ("JSON lines, framed in bulk -> ours", "through_protocol_per_s", "protocol_over_direct"),
        (
            "JSON lines, amazon_kclpy's parser -> ours",
            "through_amazon_kclpy_parser_per_s",
            "amazon_kclpy_parser_over_direct",
        ),
    ):
        print(f"{name:44} {figures[key]:12,.0f} {figures[ratio]:9.2f}")
    print(f"{'raw records -> ours (baseline)':44} {figures['direct_per_s']:12,.0f} {1:9.2f}")
    print(f"framed / direct, the median of each round's own ratio: {paired:.2f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
