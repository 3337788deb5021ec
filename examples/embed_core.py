"""Embed the consumer core in your own process: your records in, closed windows out.

:class:`pipeline.ShardCore` is the pure heart of the consumer (no AWS, no I/O, no clock): hand it
raw records in order and it validates them against a declared event type, drops duplicates by
event id, folds them into the declared jobs' event-time windows and returns what it produced.
Here the records are the lines of an NDJSON file (or standard input), the declarations come
from a configuration file (``examples/telemetry.toml`` by default: the ``telemetry`` type and
its ``site_5m`` job), and every closed window is printed as one JSON line; the counts go to
standard error. No Kinesis, no emulator: the same core the KCL record processor runs.

    python examples/embed_core.py readings.ndjson
    python examples/embed_core.py --config my.toml --batch 1000 - < readings.ndjson
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pipeline

DEFAULT_CONFIG = Path(__file__).with_name("telemetry.toml")


def raw_records(lines: Iterable[bytes]) -> Iterator[pipeline.RawRecord]:
    """One record per non-blank line; its line number is its sequence number (shard order)."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield pipeline.RawRecord(line.rstrip(b"\r\n"), "file", str(number))


def window_row(result: pipeline.WindowResult) -> dict[str, Any]:
    """A closed window as one flat JSON object: job, window, group values, metrics."""
    return {
        "job": result.job,
        "window_start_ms": result.window_start_ms,
        "window_end_ms": result.window_end_ms,
        **dict(result.group),
        **dict(result.metrics),
    }


def run(config_path: Path, lines: Iterable[bytes], out: TextIO, batch: int = 500) -> None:
    """Feed ``lines`` through a core in batches of ``batch`` records; print each closed window.

    Windows close as the records' event time passes their end (plus the job's lateness); at
    the end of the input, every window still open closes (``end_of_stream``).
    """
    config = pipeline.load_config(config_path)
    core = pipeline.ShardCore(config.stream_type, config.stream_jobs, "embedded")
    pending: list[pipeline.RawRecord] = []
    for record in raw_records(lines):
        pending.append(record)
        if len(pending) == batch:
            _print_results(core.process(pending), out)
            pending = []
    _print_results(core.process(pending), out)
    _print_results(core.close_windows(end_of_stream=True), out)
    counts = core.counters
    sys.stderr.write(
        f"{counts.records} records: {counts.events} events, {counts.duplicates} duplicates, "
        f"{counts.late} late, {counts.dead_letters} dead letters; {counts.results} windows\n"
    )


def _print_results(outcome: pipeline.Outcome, out: TextIO) -> None:
    for result in outcome.results:
        out.write(json.dumps(window_row(result)) + "\n")
    for dead in outcome.dead_letters:
        sys.stderr.write(f"line {dead.sequence_number}: {dead.reason}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="an NDJSON file of events, or - for standard input")
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="the configuration declaring the event type (stream.event_type) and its jobs",
    )
    parser.add_argument("--batch", type=int, default=500, help="records per core.process call")
    args = parser.parse_args(argv)
    if args.input == "-":
        run(args.config, sys.stdin.buffer, sys.stdout, args.batch)
    else:
        with open(args.input, "rb") as lines:
            run(args.config, lines, sys.stdout, args.batch)


if __name__ == "__main__":
    main()
