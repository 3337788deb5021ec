"""Memory of the consumer's state: bytes per tracked event id, per open window group, peak RSS.

    python -m bench.bench_memory [--devices 100000] [--minutes 3]

Runs the reference job (per-device 1-minute windows, 30 s lateness, 10 m dedupe horizon) over
``devices`` devices reporting every ~10 s, and measures with tracemalloc the bytes held by the
dedupe memory and by the open windows, divided by what they hold; then the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import tracemalloc
from pathlib import Path

import msgspec

from bench.bench_core import ReferenceJob
from bench.reference_input import reference_lines
from pipeline.config import shipped_event_type as event_type
from pipeline.config import shipped_types
from pipeline.core.dedupe import Deduper
from pipeline.core.records import RawRecord
from pipeline.core.shard import ShardCore, ShardSettings
from pipeline.core.windows.operator import WindowOperator
from pipeline.core.windows.spec import compile_jobs
from pipeline.runtime import tune_gc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    tune_gc()
    events = int(args.devices / 10 * 60 * args.minutes)
    lines = reference_lines(events, devices=args.devices)
    records = [RawRecord(line, "pk", str(i + 1)) for i, line in enumerate(lines)]
    jobs = compile_jobs([ReferenceJob()], shipped_types())
    core = ShardCore(
        event_type("iot"), jobs, "shardId-000000000000", ShardSettings(dedupe_horizon_ms=600_000)
    )
    for start in range(0, len(records), 10_000):
        core.process(records[start : start + 10_000])
    state = core.snapshot()

    dedupe_blob = msgspec.msgpack.encode(core.deduper.to_state())
    windows_blob = msgspec.msgpack.encode(core.operators[0].to_state())
    tracemalloc.start()
    deduper = Deduper(600_000)
    deduper.load_state(msgspec.msgpack.decode(dedupe_blob))
    dedupe_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    tracemalloc.start()
    operator = WindowOperator(jobs[0])
    operator.load_state(msgspec.msgpack.decode(windows_blob))
    window_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    ids = len(core.deduper)
    groups = core.operators[0].open_groups
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "devices": args.devices,
        "events": len(lines),
        "tracked_event_ids": ids,
        "bytes_per_event_id": dedupe_bytes / ids,
        "open_window_groups": groups,
        "bytes_per_open_group": window_bytes / groups if groups else 0.0,
        "snapshot_bytes": len(state),
        "peak_rss_mib (incl. input)": peak_rss_mb,
    }
    for name, value in figures.items():
        print(f"{name:22} {value:,.1f}" if isinstance(value, float) else f"{name:22} {value:,}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
