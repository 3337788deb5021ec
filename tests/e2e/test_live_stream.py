"""Event time in a live stream, on the emulator: quiet shards finish their windows on the wall
clock, and a stranger's records (clocks years ahead, a stray end-of-stream marker) change
nothing. The consumer runs unbounded, as in production: control records are off."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from consumers.app import local_engine, shard_settings
from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ResultsTable
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.provision import Provisioner
from pipeline.config import Config, load_config
from pipeline.core.shard import END_OF_STREAM
from pipeline.emulator import flush_firehose
from pipeline.harness.oracle import Oracle
from pipeline.harness.verdict import judge, read_stream
from producers.run import ProduceOptions, produce
from tests.kcl.harness import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

JOB = """
[[jobs]]
name = "live_10s"
source = "iot"
window = "10s"
lateness = "2s"
group_by = ["site"]

[jobs.metrics]
events = "count()"
temperature_avg = "avg(temperature)"
"""
SIZE_MS, LATENESS_MS = 10_000, 2_000


def live_config(emulator, tmp_path: Path, **env: str) -> Config:
    (tmp_path / "live.toml").write_text(JOB, encoding="utf-8")
    config = load_config(tmp_path / "live.toml", env=env).with_endpoint(emulator.endpoint_url)
    prefix = f"l{uuid.uuid4().hex[:8]}"
    names = dataclasses.replace(
        config.names,
        stream=f"{prefix}-events",
        results_table=f"{prefix}-results",
        state_table=f"{prefix}-state",
        bucket=f"{prefix}-lake",
        state_bucket=f"{prefix}-snapshots",
        glue_database=prefix,
        firehose_prefix=f"{prefix}-",
    )
    return dataclasses.replace(config, names=names)


class FirstSeen:
    """When each window result first appeared in the results table (polled in a thread)."""

    def __init__(self, results: ResultsTable) -> None:
        self.results = results
        self.at: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop.wait(0.25):
            now = time.time()
            for item in self.results.scan():
                self.at.setdefault(item["result_id"], now)


def test_after_the_producer_stops_every_window_is_written_within_lateness_plus_idle_timeout(
    emulator, tmp_path
):
    config = live_config(emulator, tmp_path, PIPELINE_CONSUMER_IDLE_TIMEOUT="10s")
    assert shard_settings(config).idle_timeout_ms == 10_000
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    stop = threading.Event()
    consumer = threading.Thread(target=lambda: local_engine(config, clients).run(stop=stop))
    consumer.start()
    seen = FirstSeen(ResultsTable(clients.dynamodb, config.names.results_table))
    try:
        start_ms = time.time_ns() // 1_000_000  # a live run: event time is the wall clock
        options = ProduceOptions(
            devices=6, minutes=0.5, seed=5, start_ms=start_ms, speed=1.0, truth=tmp_path / "t"
        )
        produce(options, clients.kinesis, config.names.stream)  # no end-of-stream marker
        truth = [json.loads(line) for line in (tmp_path / "t").read_text().splitlines()]
        events = [json.loads(t["payload"]) for t in truth]
        windows = {f"live_10s|{e['ts'] - e['ts'] % SIZE_MS}|site={e['site']}" for e in events}
        wait_until(lambda: windows <= seen.at.keys(), 60, "every window of the run")
    finally:
        stop.set()
        seen.stop.set()
        consumer.join(30)
    slack_s = 6.0  # the engine's poll, a checkpoint, this test's own poll, a loaded machine
    for result_id in windows:
        end_s = (int(result_id.split("|")[1]) + SIZE_MS) / 1000
        assert seen.at[result_id] <= end_s + (LATENESS_MS + 10_000) / 1000 + slack_s, result_id
    last_end = max(int(r.split("|")[1]) for r in windows) + SIZE_MS
    assert last_end > max(e["ts"] for e in events)  # the last window closed on the idle clock


def test_future_clocks_and_a_stray_end_of_stream_before_good_traffic_change_nothing(
    emulator, tmp_path
):
    config = live_config(emulator, tmp_path, PIPELINE_CONSUMER_IDLE_TIMEOUT="1s")
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    stream = KinesisStream(clients.kinesis, config.names.stream)
    year_2031 = 1_924_992_000_000
    strangers = [
        {
            "event_id": f"future-{n}",
            "device_id": f"broken-{n}",
            "device_type": "tracker",
            "site": "site-00",
            "ts": year_2031 + n * 1000,
        }
        for n in range(6)
    ]
    entries = [{"Data": json.dumps(e).encode(), "PartitionKey": e["device_id"]} for e in strangers]
    entries += [{"Data": END_OF_STREAM, "PartitionKey": f"stray-{n}"} for n in range(4)]
    assert stream.put_records(entries) == {}
    produce(ProduceOptions(devices=10, minutes=4, seed=3), clients.kinesis, config.names.stream)

    jobs = config.stream_jobs
    settings = shard_settings(config)
    oracle = Oracle(
        jobs, settings.dedupe_horizon_ms or 0, settings.max_future_skew_ms, control_records=False
    )
    expected = oracle.run(*read_stream(clients, config.names.stream))
    assert len(expected.dead_letters) == 10 and len(expected.windows) >= 24
    results = ResultsTable(clients.dynamodb, config.names.results_table)
    stop = threading.Event()
    consumer = threading.Thread(target=lambda: local_engine(config, clients).run(stop=stop))
    consumer.start()
    try:
        # every shard's part of every window: the last ones closed by the idle clock
        wait_until(
            lambda: sum(i["events"] for i in results.scan()) == len(expected.events),
            120,
            "every event in a window result",
        )
    finally:
        stop.set()
        consumer.join(30)
    flush_firehose(config.aws.endpoint_url)
    verdict = judge(config, clients, list(jobs), expected)
    assert verdict.mismatches == 0 and verdict.lost == 0, verdict.details
    assert verdict.late == 0  # nothing of the good traffic was made late by the strangers
