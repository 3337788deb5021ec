"""Effectively once under crashes: the consumer is SIGKILLed at random points and restarted.

A real `pipeline consume` process (local engine) runs against the embedded emulator; it is
killed with SIGKILL several times mid-run and restarted; the final DynamoDB results must equal
the oracle computed from the producer's ground truth, and the lake's views must count every
event exactly once, although replays re-send rows to Firehose.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ResultsTable
from pipeline.aws.provision import Provisioner
from pipeline.config import Config, load_config
from pipeline.core.times import parse_duration
from pipeline.emulator import flush_firehose
from pipeline.harness.oracle import Oracle
from pipeline.harness.verdict import judge, read_stream
from pipeline.lake.tables import lake_tables
from pipeline.reports.duck import LakeSession
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions, produce
from tests.oracle_sql import assert_results_equal_oracle, device_minute_oracle

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

CONFIG = """
[names]
stream = "crash-events"
results_table = "crash-results"
state_table = "crash-state"
bucket = "crash-lake"
state_bucket = "crash-consumer-state"
glue_database = "crash"
firehose_prefix = "crash-"

[stream]
shards = 3

[consumer]
application = "crash-consumer"
max_records = 50
poll_interval_ms = 20
checkpoint_interval_s = 0.3
"""


def consume(config_path: Path, endpoint: str) -> subprocess.Popen:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "--config",
        str(config_path),
        "--endpoint-url",
        endpoint,
        "consume",
        "--until-end-of-stream",
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def consume_with_kills(config_path: Path, endpoint: str, runs: int = 8) -> int:
    """Start the consumer ``runs`` times, SIGKILLing it at a random point of each, then let one
    run finish; returns how many runs were killed mid-run."""
    rng = random.Random(2024)
    killed_mid_run = 0
    for _ in range(runs):
        process = consume(config_path, endpoint)
        time.sleep(rng.uniform(1.0, 2.5))  # a random kill point; the outcome must not depend on it
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_mid_run += 1
        process.wait(timeout=60)
    final = consume(config_path, endpoint)
    _, stderr = final.communicate(timeout=240)
    assert final.returncode == 0, stderr.decode()[-2000:]
    return killed_mid_run


def assert_lake_counts_each_once(
    config: Config, clients: AwsClients, sent: set[str], results: int
) -> None:
    """Replays may re-send rows to the lake, but its views count each event and result once."""
    tables = lake_tables(config)
    filesystem = clients.arrow_s3_filesystem()
    raw = ds.dataset(
        f"{config.names.bucket}/{tables['events'].location}",
        filesystem=filesystem,
        format="parquet",
    )
    assert raw.count_rows() >= len(sent)
    with LakeSession(tables, filesystem, config.names.bucket) as session:
        counted = session.query(
            "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM v_events_iot"
        ).to_pylist()
        windows = session.query("SELECT count(*) AS n FROM v_window_device_minute").to_pylist()
    assert counted == [{"n": len(sent), "d": len(sent)}]
    assert windows == [{"n": results}]


def test_sigkill_at_random_points_never_double_counts_or_loses(emulator, tmp_path):
    config_path = tmp_path / "pipeline.toml"
    config_path.write_text(CONFIG)
    config = load_config(config_path, env={}).with_endpoint(emulator.endpoint_url)
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    truth = tmp_path / "truth.jsonl"
    options = ProduceOptions(
        devices=80,
        minutes=30,
        seed=13,
        chaos=ChaosOptions(duplicates=0.05),
        end_of_stream=True,
        truth=truth,
    )
    produce(options, clients.kinesis, config.names.stream)

    killed_mid_run = consume_with_kills(config_path, emulator.endpoint_url)
    assert killed_mid_run >= 5, "the consumer finished too early for the kills to test anything"

    items = list(ResultsTable(clients.dynamodb, config.names.results_table).scan())
    assert_results_equal_oracle(items, device_minute_oracle(truth))

    flush_firehose(emulator.endpoint_url)
    sent = {
        json.loads(json.loads(line)["payload"]).get("event_id")
        for line in truth.read_text().splitlines()
    }
    sent.discard(None)
    assert_lake_counts_each_once(config, clients, sent, len(items))

    # the independent record-at-a-time oracle over what the stream delivered agrees on everything
    jobs = config.jobs_for("iot")
    horizon = parse_duration(config.consumer.dedupe_horizon, "horizon")
    expected = Oracle(jobs, horizon).run(*read_stream(clients, config.names.stream))
    verdict = judge(config, clients, jobs, expected)
    assert verdict.ok, verdict.details
    assert (verdict.events, verdict.window_results) == (len(sent), len(items))
    assert verdict.duplicates_removed > 0
