"""Consumer core throughput on the reference job, against baselines in the same run.

The reference job: per-device 1-minute windows (count, avg/min/max temperature, min battery),
dedupe by event_id, over seeded IoT NDJSON (2% duplicates, 5% out of order within 30 s). Every
engine runs on one core over the same records in batches of 10,000 (what one GetRecords call
returns at most); all must produce the same windows before any is timed.

    python -m bench.bench_core [--events 1000000] [--devices 10000] [--runs 3] [--json out.json]
        [--profile] [--default-gc] [--keep-input-in-gc] [--no-bytewax]

Engines: ours (pipeline.core.ShardCore); DuckDB with threads=1 doing the same job on the same
lines (read_json + dedupe + GROUP BY time bucket); a plain per-record json.loads + dict + set loop
(the KCL sample's way); Bytewax, a stream processor from PyPI (``pip install bytewax``,
the ``bench`` extra), when installed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import duckdb

from bench.reference_input import reference_lines
from bench.stages import print_stages, stage_times
from pipeline.config import load_config, shipped_types
from pipeline.config import shipped_event_type as event_type
from pipeline.core.records import RawRecord
from pipeline.core.results import ClosedWindows, WindowResults
from pipeline.core.shard import ShardCore
from pipeline.core.windows.spec import compile_jobs
from pipeline.runtime import tune_gc
from pipeline.testing import BOUNDED

BATCH = 10_000
#: The core's stages, by the functions that implement them (``--profile``).
CORE_STAGES = {
    "decode + validate (Decoder.decode)": [("pipeline/core/events/decode.py", "decode")],
    "dedupe (Deduper.first_seen, forget_before)": [
        ("pipeline/core/dedupe.py", "first_seen"),
        ("pipeline/core/dedupe.py", "forget_before"),
    ],
    "fold into windows (WindowOperator.add)": [("pipeline/core/windows/operator.py", "add")],
    "emit results (WindowOperator.close*)": [
        ("pipeline/core/windows/operator.py", "close"),
        ("pipeline/core/windows/operator.py", "close_all"),
    ],
}
LATENESS_MS = 30_000
#: events per second of event time, whatever the number of devices (10,000 devices: one each 10 s)
REFERENCE_RATE = 1_000
SIZE_MS = 60_000


class ReferenceJob:
    name = "reference"
    source = "iot"
    window = "1m"
    lateness = "30s"
    group_by = ("device_id",)
    metrics = {
        "events": "count()",
        "temperature_avg": "avg(temperature)",
        "temperature_min": "min(temperature)",
        "temperature_max": "max(temperature)",
        "battery_min": "min(battery)",
    }


def ours(records: list[RawRecord]) -> dict:
    jobs = compile_jobs(
        [ReferenceJob()], shipped_types(), load_config(env={}).stream.retention_hours * 3_600_000
    )
    core = ShardCore(event_type("iot"), jobs, "shardId-000000000000", BOUNDED)
    results = WindowResults()
    for start in range(0, len(records), BATCH):
        results.extend(core.process(records[start : start + BATCH]).results)
    results.extend(core.close_windows(end_of_stream=True).results)
    # read by columns, as DuckDB's rows are fetched: every value becomes a Python object
    windows = {}
    for part in results.parts:
        assert isinstance(part, ClosedWindows)
        rows = zip(
            part.group_column("device_id"),
            part.window_starts,
            *[part.metric_column(name) for name in ReferenceJob.metrics],
            strict=True,
        )
        for device, start, events, avg, low, high, battery in rows:
            windows[(device, start)] = {
                "events": events,
                "temperature_avg": avg,
                "temperature_min": low,
                "temperature_max": high,
                "battery_min": battery,
            }
    return windows


def plain_loop(records: list[RawRecord]) -> dict:
    """Per record: json.loads, a set for dedupe, a dict of windows (the KCL sample's way)."""
    seen: set[str] = set()
    windows: dict[tuple[str, int], list[float]] = {}
    newest = -(2**62)
    for record in records:
        event = json.loads(record.data)
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        ts = event["ts"]
        start = ts - ts % SIZE_MS
        if start + SIZE_MS > newest - LATENESS_MS:
            state = windows.get((event["device_id"], start))
            t, b = event["temperature"], event["battery"]
            if state is None:
                windows[(event["device_id"], start)] = [1, t, t, t, b]
            else:
                state[0] += 1
                state[1] += t
                state[2] = min(state[2], t)
                state[3] = max(state[3], t)
                state[4] = min(state[4], b)
        newest = max(newest, ts)
    return {
        key: {
            "events": s[0],
            "temperature_avg": s[1] / s[0],
            "temperature_min": s[2],
            "temperature_max": s[3],
            "battery_min": s[4],
        }
        for key, s in windows.items()
    }


DUCKDB_JOB = """
WITH numbered AS (
  SELECT *, row_number() OVER () AS arrival FROM read_json('{path}', format = 'newline_delimited',
    columns = {{event_id: 'VARCHAR', device_id: 'VARCHAR', ts: 'BIGINT', temperature: 'DOUBLE',
               battery: 'DOUBLE'}})
), unique_events AS (
  SELECT * FROM numbered QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY arrival) = 1
), with_watermark AS (
  SELECT *, coalesce(max(ts) OVER (ORDER BY arrival
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                     -4611686018427387904) AS newest_before
  FROM unique_events
)
SELECT device_id, ts - ts % 60000 AS window_start, count(*) AS events, avg(temperature),
       min(temperature), max(temperature), min(battery)
FROM with_watermark
WHERE ts - ts % 60000 + 60000 > newest_before - 30000
GROUP BY ALL
"""


def duckdb_job(path: str) -> Callable[[list[RawRecord]], dict]:
    def run(_: list[RawRecord]) -> dict:
        connection = duckdb.connect(config={"threads": 1})
        rows = connection.execute(DUCKDB_JOB.format(path=path)).fetchall()
        connection.close()
        return {
            (r[0], r[1]): {
                "events": r[2],
                "temperature_avg": r[3],
                "temperature_min": r[4],
                "temperature_max": r[5],
                "battery_min": r[6],
            }
            for r in rows
        }

    return run


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key, metrics in a.items():
        other = b[key]
        for name, value in metrics.items():
            if abs(value - other[name]) > 1e-9 * max(1.0, abs(value)):
                return False
    return True


def timed(
    engines: dict[str, Callable[[list[RawRecord]], dict]], records: list[RawRecord], runs: int
) -> dict[str, float]:
    """The median seconds of each engine, the runs interleaved (round after round of every
    engine): a shared machine's changing load weighs on every engine alike."""
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(runs):
        for name, engine in engines.items():
            started = time.perf_counter()
            engine(records)
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in seconds.items()}


def checked_and_timed(
    engines: dict[str, Callable[[list[RawRecord]], dict]],
    records: list[RawRecord],
    reference: dict,
    runs: int,
) -> dict[str, float]:
    """Every engine's windows must equal the core's before any is timed."""
    for name, engine in engines.items():
        if not same(engine(records), reference):
            raise SystemExit(f"{name} disagrees with the core: refusing to time different jobs")
    return timed(engines, records, runs)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--devices",
        type=int,
        default=10_000,
        help="devices sharing the input's 1,000 events/s (fewer: fewer, larger groups; 100 is "
        "the second shape: ~600 events per device and window)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--profile", action="store_true", help="also: where the core's time goes")
    parser.add_argument(
        "--default-gc", action="store_true", help="CPython's GC thresholds, not the consumers'"
    )
    parser.add_argument(
        "--no-bytewax", action="store_true", help="leave Bytewax out even when it is installed"
    )
    parser.add_argument(
        "--keep-input-in-gc",
        action="store_true",
        help="leave the input records to the cyclic GC (not frozen out of it)",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    if not args.default_gc:
        tune_gc()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one pinned core
    lines = reference_lines(args.events, devices=args.devices, per_second=REFERENCE_RATE)
    records = [RawRecord(line, "pk", str(i + 1)) for i, line in enumerate(lines)]
    if not args.keep_input_in_gc:
        # A consumer holds one batch at a time; the whole input, held here for every run of
        # every engine, is not theirs to rescan: out of the cyclic GC (for every engine alike)
        gc.freeze()
    if args.profile:  # first: the peers' leftovers would weigh on the collector (and skew it)
        profiled = stage_times(lambda: ours(records), len(records), CORE_STAGES)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.ndjson"
        path.write_bytes(b"\n".join(lines) + b"\n")
        engines = {
            "ours (ShardCore)": ours,
            "DuckDB threads=1": duckdb_job(str(path)),
            "json.loads + dict + set": plain_loop,
        }
        reference = ours(records)
        figures = checked_and_timed(engines, records, reference, args.runs)
        if find_spec("bytewax") is not None and not args.no_bytewax:
            from bench.peer_bytewax import run as bytewax_job

            # last: what a Bytewax run leaves behind (its runtime, its heap) slows whatever
            # runs after it in this process (measured: the core at half speed)
            bytewax = {"Bytewax 0.21 (1 worker)": lambda _: bytewax_job(lines)}
            figures |= checked_and_timed(bytewax, records, reference, args.runs)
    ours_rate = len(records) / figures["ours (ShardCore)"]
    print(
        f"{len(records):,} records ({len(lines) - args.events:,} duplicates), "
        f"{args.devices:,} devices, {len(reference):,} windows, "
        f"median of {args.runs} runs, one core"
    )
    print(f"{'engine':28} {'events/s':>12} {'seconds':>9} {'ours / engine':>14}")
    table = {}
    for name, seconds in figures.items():
        rate = len(records) / seconds
        table[name] = {"events_per_s": rate, "seconds": seconds, "ratio": ours_rate / rate}
        print(f"{name:28} {rate:12,.0f} {seconds:9.3f} {ours_rate / rate:14.2f}")
    if args.profile:
        print_stages("ours", profiled)
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"records": len(records), "engines": table}, indent=2)
        )


if __name__ == "__main__":
    main()
