"""KCL engine start-up: seconds from launch to the first record processed, seeded or not.

A fresh application's first KCL worker finds the lease table empty and waits a random 1-30 s
before its first shard sync; ``--seed-leases`` writes the leases first. Each run starts one
real worker (the MultiLangDaemon and its Python children, the configured jar set) on a fresh
stream and application of one embedded emulator, with the configuration's KCL times (the
defaults unless ``PIPELINE_KCL_*`` say otherwise), and stops it at its first processed record.

    python -m bench.bench_kcl_startup [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import threading
import time
from pathlib import Path

from consumers.kcl.daemon import KclDaemon
from pipeline.aws.clients import AwsClients
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.provision import Provisioner
from pipeline.config import Config, load_config
from pipeline.emulator import EmbeddedEmulator

TIMEOUT_S = 180.0


def fresh_config(endpoint: str, run: str) -> Config:
    base = load_config().with_endpoint(endpoint)
    names = dataclasses.replace(
        base.names,
        stream=f"{run}-events",
        results_table=f"{run}-results",
        state_table=f"{run}-checkpoints",
        bucket=f"{run}-lake",
        state_bucket=f"{run}-state",
        firehose_prefix=f"{run}-",
    )
    consumer = dataclasses.replace(base.consumer, application=f"{run}-app")
    return dataclasses.replace(base, names=names, consumer=consumer)


def first_record_s(config: Config, seed: bool) -> float:
    """Launch a worker; seconds until a child has processed a record."""
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    stream = KinesisStream(clients.kinesis, config.names.stream)
    for _, start_hash in stream.open_shard_hash_ranges():
        clients.kinesis.put_record(
            StreamName=config.names.stream,
            Data=b"{}",  # a dead letter is a processed record too
            PartitionKey="p",
            ExplicitHashKey=str(start_hash),
        )
    daemon = KclDaemon(config, clients, seed_leases=seed)
    stop = threading.Event()
    worker = threading.Thread(target=daemon.run, kwargs={"stop": stop, "poll_interval_s": 0.1})
    started = time.monotonic()
    worker.start()
    try:
        while not any(status.records for status in daemon.statuses()):
            if time.monotonic() - started > TIMEOUT_S or not worker.is_alive():
                raise RuntimeError(f"no record processed within {TIMEOUT_S} s")
            time.sleep(0.1)  # sampling the status files: the resolution of the figure
        return time.monotonic() - started
    finally:
        stop.set()
        worker.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"seeded": [], "unseeded": []}
    with EmbeddedEmulator() as emulator:
        for run in range(args.runs):
            for kind, seconds in figures.items():
                config = fresh_config(emulator.endpoint_url, f"startup-{kind}-{run}")
                seconds.append(first_record_s(config, seed=kind == "seeded"))
    kcl = load_config().kcl
    print(f"failover_ms {kcl.failover_ms}, {args.runs} runs: s to the first record processed")
    for kind, seconds in figures.items():
        runs = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"{kind:9} median {statistics.median(seconds):5.1f} s  ({runs})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
