"""End to end on the embedded emulator: events/s from producer to DynamoDB results, and the
latency from the moment a window could close to its result row.

The producer runs paced (``--speed`` simulated seconds per real second), so an event time maps
to the wall-clock moment it was sent. A window can only close once the watermark passes its end
(its end plus the allowed lateness has been produced); the latency of a window is the time from
that moment to its result row being written. Medians and 99th percentiles over every window.

    python -m bench.bench_e2e [--devices 200] [--minutes 10] [--speed 60] [--json out.json]

``--speed 0`` sends as fast as the stream takes it: the throughput figure, without latencies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

from consumers.app import bounded, local_engine
from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ResultsTable
from pipeline.aws.provision import Provisioner
from pipeline.config import load_config
from pipeline.emulator import EmbeddedEmulator
from producers.run import ProduceOptions, produce

LATENESS_MS = 30_000  # device_minute's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="a small run (CI)")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.minutes = 40, 3.0
    written: dict[str, float] = {}
    original = ResultsTable.write

    def timed_write(self, results, shard_id):
        rows = original(self, results, shard_id)
        now = time.monotonic()
        for result in results:
            written.setdefault(result.result_id, now)
        return rows

    ResultsTable.write = timed_write  # type: ignore[method-assign]
    with EmbeddedEmulator() as emulator:
        config = load_config(env={}).with_endpoint(emulator.endpoint_url)
        clients = AwsClients(config.aws)
        Provisioner(config, clients).run()
        options = ProduceOptions(
            devices=args.devices, minutes=args.minutes, seed=3, speed=args.speed, end_of_stream=True
        )
        sent = {}
        started = time.monotonic()
        producer = threading.Thread(
            target=lambda: sent.update(stats=produce(options, clients.kinesis, config.names.stream))
        )
        producer.start()
        status = local_engine(bounded(config), clients).run(until_end_of_stream=True)
        producer.join()
        elapsed = time.monotonic() - started
    ResultsTable.write = original  # type: ignore[method-assign]

    latencies = []
    for result_id, at in written.items() if args.speed else ():
        window_start = int(result_id.split("|")[1])
        closable_ms = window_start + 60_000 + LATENESS_MS - options.start_ms
        if (
            closable_ms / 1000 / args.speed <= elapsed
        ):  # windows closed by the end marker are not timed
            latencies.append(at - started - closable_ms / 1000 / args.speed)
    latencies.sort()
    figures = {
        "events": status.counters.events,
        "events_per_s_end_to_end": status.counters.events / elapsed,
        "windows_timed": len(latencies),
        "latency_p50_s": statistics.median(latencies) if latencies else None,
        "latency_p99_s": latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
    }
    for name, value in figures.items():
        print(f"{name:30} {value:,.3f}" if isinstance(value, float) else f"{name:30} {value}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
