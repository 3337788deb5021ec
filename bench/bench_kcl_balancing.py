"""KCL 3 lease balancing: how often leases move between two live workers on one machine.

KCL 3's leader evens its workers' load; with no CPU metric (outside EC2, ECS and EKS) that load
is each lease's throughput. Each run starts two real workers (the MultiLangDaemon and its Python
children, seeded leases) on a fresh four-shard stream of one embedded emulator, sends valid
events for ``--minutes`` in one of two shapes of the same mean rate (``steady``: every half
second; ``bursty``: every 15 s, a quiet stream's bursts), and samples the lease table twice a
second: a move is a lease whose owner changes from one worker to the other. One run per shape
and ``kcl.rebalance_threshold_percent`` in ``--thresholds``, with the short failover time of the
tests (``--failover-ms``: the leader balances every third round of 2 x failover).

    python -m bench.bench_kcl_balancing [--minutes 3] [--thresholds 10,90]
        [--patterns steady,bursty] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import threading
import time
from pathlib import Path

import msgspec

from bench.bench_kcl_startup import fresh_config
from consumers.kcl.daemon import KclDaemon
from pipeline.aws.clients import AwsClients
from pipeline.aws.leases import LeaseTable
from pipeline.aws.provision import Provisioner
from pipeline.config import Config
from pipeline.emulator import EmbeddedEmulator
from pipeline.testing import iot_event

encode = msgspec.json.encode
WORKERS = ("worker-a", "worker-b")
SHARDS = 4
DEVICES = 20
RECORDS_PER_SECOND = 40
#: The stream's shapes, same mean rate: (seconds between sends, records per send).
PATTERNS = {"steady": (0.5, RECORDS_PER_SECOND // 2), "bursty": (15.0, RECORDS_PER_SECOND * 15)}


def send(config: Config, pattern: str, stop: threading.Event) -> None:
    """Valid events from ``DEVICES`` devices in ``pattern``'s shape until ``stop``."""
    kinesis = AwsClients(config.aws).kinesis
    every_s, size = PATTERNS[pattern]
    numbers = itertools.count()
    while not stop.wait(every_s):
        now_ms = int(time.time() * 1000)
        records = [
            {
                "Data": encode(iot_event(n, now_ms, device=f"dev-{n % DEVICES}")),
                "PartitionKey": f"dev-{n % DEVICES}",
            }
            for n in itertools.islice(numbers, size)
        ]
        for start in range(0, len(records), 500):  # PutRecords takes at most 500
            kinesis.put_records(
                StreamName=config.names.stream, Records=records[start : start + 500]
            )


def lease_moves(config: Config, pattern: str, minutes: float, work_dir: Path) -> int:
    """Run two workers and the stream for ``minutes``; the leases moved between them."""
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    stop = threading.Event()
    threads = [threading.Thread(target=send, args=(config, pattern, stop))]
    for worker_id in WORKERS:
        daemon = KclDaemon(config, clients, work_dir / worker_id, worker_id, seed_leases=True)
        threads.append(threading.Thread(target=daemon.run, kwargs={"stop": stop}))
    for thread in threads:
        thread.start()
    table = LeaseTable(clients.dynamodb, config.consumer.application)
    owners: dict[str, str] = {}
    moves = 0
    deadline = time.monotonic() + minutes * 60
    try:
        while time.monotonic() < deadline:
            for lease in table.leases():
                before = owners.get(lease.shard_id)
                if lease.owner in WORKERS:
                    moves += before is not None and before != lease.owner
                    owners[lease.shard_id] = lease.owner
            time.sleep(0.5)  # the sampling period: moves faster than this are not counted
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return moves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--thresholds", default="10,90")
    parser.add_argument("--patterns", default="steady,bursty")
    parser.add_argument("--failover-ms", type=int, default=2_000)
    parser.add_argument("--work-dir", default="bench/out/kcl-balancing")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    runs = [
        (pattern, int(threshold))
        for pattern in args.patterns.split(",")
        for threshold in args.thresholds.split(",")
    ]
    figures: dict[str, int] = {}
    with EmbeddedEmulator() as emulator:
        for pattern, threshold in runs:
            name = f"{pattern}-{threshold}"
            config = fresh_config(emulator.endpoint_url, f"balancing-{name}")
            kcl = dataclasses.replace(
                config.kcl,
                failover_ms=args.failover_ms,
                shutdown_grace_ms=2 * args.failover_ms,
                rebalance_threshold_percent=threshold,
            )
            stream = dataclasses.replace(config.stream, shards=SHARDS)
            config = dataclasses.replace(config, kcl=kcl, stream=stream)
            work_dir = Path(args.work_dir) / name
            figures[name] = lease_moves(config, pattern, args.minutes, work_dir)
    print(
        f"2 workers, {SHARDS} shards, {RECORDS_PER_SECOND} records/s on average, failover_ms "
        f"{args.failover_ms}, {args.minutes:g} min a run: leases moved between live workers"
    )
    for pattern, threshold in runs:
        moves = figures[f"{pattern}-{threshold}"]
        print(
            f"{pattern:6} stream, rebalance_threshold_percent {threshold:5}: {moves:3} moves, "
            f"{moves / args.minutes:.1f} a minute"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
