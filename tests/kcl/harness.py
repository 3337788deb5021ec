"""Scenario helpers for the KCL tests: configurations, workers, resharding, the oracle.

Each end-to-end scenario runs its own emulator process (its moto state and its threads are its
own), real ``pipeline consume --engine kcl`` workers as process groups (so that a kill -9 takes
the launcher, the Java daemon and the record processors down at once, like a lost machine), and
compares the DynamoDB results with the oracle computed by DuckDB from the producer's truth file
(tests/oracle_sql.py).
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from consumers.kcl.properties import config_toml
from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ResultsTable
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.leases import Lease, LeaseTable
from pipeline.config import Config, NamesConfig, load_config
from pipeline.core.shard import END_OF_STREAM
from pipeline.deploy.policies import POLICIES
from pipeline.emulator import java_calls
from producers.chaos import Outgoing
from producers.run import ProduceOptions, outgoing
from producers.truth import TruthWriter
from producers.writer import KinesisWriter

ROOT = Path(__file__).resolve().parents[2]
#: The KCL daemon's log lines on lease moves (KCL 3.1.3's wording).
LEASE_MOVE = re.compile(r"Assigning lease|Leases taken from|New leases assigned .* count : [1-9]")


def scenario_config(endpoint: str, prefix: str, shards: int = 2) -> Config:
    """Unique names, and the short KCL times that keep a scenario fast."""
    base = load_config(env={}).with_endpoint(endpoint)
    names = NamesConfig(
        stream=f"{prefix}-events",
        results_table=f"{prefix}-results",
        state_table=f"{prefix}-checkpoints",
        bucket=f"{prefix}-lake",
        state_bucket=f"{prefix}-state",
        glue_database=prefix.replace("-", "_"),
        firehose_prefix=f"{prefix}-",
    )
    return dataclasses.replace(
        base,
        names=names,
        stream=dataclasses.replace(base.stream, shards=shards),
        consumer=dataclasses.replace(
            base.consumer,
            application=f"{prefix}-app",
            poll_interval_ms=100,
            checkpoint_interval_s=1.0,
        ),
        kcl=dataclasses.replace(
            base.kcl,
            failover_ms=2_000,
            shard_sync_interval_ms=2_000,
            parent_poll_ms=500,
            shutdown_grace_ms=4_000,
            max_leases_to_steal=2,
        ),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    condition: Callable[[], Any],
    timeout_s: float,
    what: str,
    every_s: float = 0.25,
    explain: Callable[[], str] | None = None,
) -> Any:
    """Poll ``condition`` until it returns something truthy (never a fixed sleep); on a timeout,
    ``explain()`` (if given) says what happened meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}{detail}")
        time.sleep(every_s)


class Worker:
    """``pipeline consume --engine kcl`` in its own process group."""

    def __init__(self, config: Config, folder: Path, worker_id: str, *extra: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.config_file = folder / "config.toml"
        self.config_file.write_text(config_toml(config), encoding="utf-8")
        self.log = folder / f"{worker_id}.log"
        self.worker_id = worker_id
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
        command = [
            sys.executable,
            "-m",
            "pipeline.cli",
            "--config",
            str(self.config_file),
            "--log-level",
            "INFO",
            "consume",
            "--engine",
            "kcl",
            "--work-dir",
            str(folder / worker_id),
            "--worker-id",
            worker_id,
            *extra,
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )

    def kill9(self) -> None:
        """The machine is gone: launcher, daemon and record processors, all at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def finish(self, timeout_s: float) -> str:
        """Wait for a clean exit; returns its stdout (the summary line)."""
        try:
            out, _ = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise AssertionError(f"{self.worker_id} did not finish: {self.tail()}") from None
        assert self.process.returncode == 0, f"{self.worker_id}: {self.tail()}"
        return out.decode()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def lease_events(self) -> list[str]:
        """The daemon's log lines on lease moves: the leader's assignments and balancing, the
        leases this worker found assigned to it."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [f"{self.worker_id}: {line[:220]}" for line in lines if LEASE_MOVE.search(line)]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def leases(config: Config) -> list[Lease]:
    clients = AwsClients(config.aws)
    return LeaseTable(clients.dynamodb, config.consumer.application).leases()


def leader(config: Config) -> str | None:
    """The KCL 3 leader: the owner of the DynamoDB lock item ``Leader`` in the application's
    coordinator-state table (None while nobody holds it, or before a worker created the table)."""
    dynamodb = AwsClients(config.aws).dynamodb
    try:
        answer = dynamodb.get_item(
            TableName=f"{config.consumer.application}-CoordinatorState",
            Key={"key": {"S": "Leader"}},
            ConsistentRead=True,
        )
    except dynamodb.exceptions.ResourceNotFoundException:
        return None
    return answer.get("Item", {}).get("ownerName", {}).get("S")


def kcl_actions_outside_the_policy(
    endpoint_url: str, config: Config, prefix: str
) -> tuple[set[str], list[str]]:
    """(every IAM action the KCL daemon needed on the scenario ``prefix``'s resources, the
    calls the consumer's IAM policy does not allow), from the emulator's log of the AWS SDK for
    Java's calls; the policy's placeholders become the scenario's names (moto's account)."""
    names = {
        "AWS::Partition": "aws",
        "AWS::Region": config.aws.region,
        "AWS::AccountId": "123456789012",
        "ConsumerApplication": config.consumer.application,
        "StreamName": config.names.stream,
    }
    patterns = [
        (set(s.actions), re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m[1], m[0]), resource))
        for s in POLICIES["consumer"].statements
        for resource in s.resources
    ]
    actions, outside = set(), []
    for service, operation, resource, _ in java_calls(endpoint_url):
        if resource and prefix not in resource:
            continue  # another scenario's (one emulator per test module)
        action = f"{service}:{operation}"
        arn = f"arn:aws:{service}:{config.aws.region}:123456789012:"
        arn += resource or f"stream/{config.names.stream}"  # GetRecords: through an iterator
        actions.add(action)
        if not any(action in allowed and fnmatchcase(arn, p) for allowed, p in patterns):
            outside.append(f"{action} on {arn}")
    return actions, outside


def table_schema(config: Config, table: str) -> dict[str, Any]:
    """What DescribeTable says of a table's keys, indexes and billing (not its contents)."""
    described = AwsClients(config.aws).dynamodb.describe_table(TableName=table)["Table"]
    return {
        "keys": described["KeySchema"],
        "attributes": sorted(a["AttributeName"] for a in described["AttributeDefinitions"]),
        "indexes": [
            (index["IndexName"], index["KeySchema"], index["Projection"])
            for index in described.get("GlobalSecondaryIndexes", [])
        ],
        "billing": described["BillingModeSummary"]["BillingMode"],
    }


def results(config: Config) -> list[dict[str, Any]]:
    clients = AwsClients(config.aws)
    return list(ResultsTable(clients.dynamodb, config.names.results_table).scan())


def send_run(
    config: Config,
    options: ProduceOptions,
    truth: Path,
    steps: dict[int, Callable[[], None]] | None = None,
    every: int = 25,
    pause_s: float = 0.05,
) -> int:
    """Produce ``options``' records (and the truth) in small batches, paced so that consumers
    run meanwhile, calling ``steps[n]`` right after the first ``n`` records are in the stream;
    then the end-of-stream markers. Returns the number of records sent."""
    steps = steps or {}
    clients = AwsClients(config.aws)
    stream = KinesisStream(clients.kinesis, config.names.stream)
    with TruthWriter(truth) as truth_file:
        writer = KinesisWriter(clients.kinesis, stream.stream, on_delivered=truth_file.write_block)
        sent = 0
        for sent, record in enumerate(outgoing(options), start=1):
            writer.put(record)
            if sent % every == 0 or sent in steps:
                writer.flush()
                time.sleep(pause_s)  # pacing the producer, not waiting for a result
            if sent in steps:
                steps[sent]()
        for shard_id, start_hash in stream.open_shard_hash_ranges():
            marker = {"control": "end_of_stream"}
            writer.put(Outgoing(shard_id, END_OF_STREAM, marker, str(start_hash)))
        writer.close()
    return sent


def split(config: Config, shard_id: str) -> None:
    """SplitShard at the middle of the shard's hash range."""
    clients = AwsClients(config.aws)
    shard = next(
        s
        for s in KinesisStream(clients.kinesis, config.names.stream).shards()
        if s.shard_id == shard_id
    )
    clients.kinesis.split_shard(
        StreamName=config.names.stream,
        ShardToSplit=shard_id,
        NewStartingHashKey=str((shard.starting_hash_key + shard.ending_hash_key + 1) // 2),
    )


def merge(config: Config, shard_id: str, adjacent_shard_id: str) -> None:
    AwsClients(config.aws).kinesis.merge_shards(
        StreamName=config.names.stream,
        ShardToMerge=shard_id,
        AdjacentShardToMerge=adjacent_shard_id,
    )
