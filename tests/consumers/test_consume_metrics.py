"""``pipeline consume`` (local engine) serves per-shard Prometheus metrics and logs EMF lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.aws.clients import AwsClients
from pipeline.aws.provision import Provisioner
from pipeline.config import load_config
from producers.run import ProduceOptions, produce

pytestmark = pytest.mark.emulator


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def per_shard(samples: dict, metric: str) -> dict[str, float]:
    return {dict(labels)["shard"]: v for (n, labels), v in samples.items() if n == metric}


def write_config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f'[names]\nstream = "{name}"\nresults_table = "{name}-results"\n'
        f'state_table = "{name}-state"\nbucket = "{name}-lake"\n'
        f'state_bucket = "{name}-state"\nglue_database = "{name}"\nfirehose_prefix = "{name}-"\n'
        f'[stream]\nshards = 2\n[consumer]\napplication = "{name}"\npoll_interval_ms = 20\n'
        "checkpoint_interval_s = 0.5\n[metrics]\nemf = true\nemf_interval_s = 1\n"
    )
    return path


def test_the_local_engine_serves_per_shard_metrics_while_it_runs(emulator, tmp_path, name):
    path = write_config(tmp_path, name)
    config = load_config(path, env={}).with_endpoint(emulator.endpoint_url)
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    sent = produce(ProduceOptions(devices=6, minutes=3), clients.kinesis, config.names.stream)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    command = [sys.executable, "-m", "pipeline.cli", "--config", str(path)]
    command += ["--endpoint-url", emulator.endpoint_url, "consume", "--metrics-port", "0"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        announced = wait_for(
            lambda: [ln for ln in list(lines) if ln.startswith("metrics: ")], 60, "the port"
        )
        port = int(announced[0].rsplit(":", 1)[1].split("/")[0])
        url = f"http://127.0.0.1:{port}"

        def all_counted() -> dict | None:
            samples = scrape(f"{url}/metrics")
            records = per_shard(samples, "kpipe_shard_records_total")
            return samples if sum(records.values()) == sent.user_records else None

        samples = wait_for(all_counted, 60, "every record in the metrics")
        shards = ["shardId-000000000000", "shardId-000000000001"]
        records = per_shard(samples, "kpipe_shard_records_total")
        assert sorted(records) == shards and all(records.values())
        events = per_shard(samples, "kpipe_shard_events_total")
        assert sum(events.values()) == sent.user_records  # no chaos: every record is an event
        assert set(per_shard(samples, "kpipe_shard_millis_behind_latest")) == set(shards)
        for shard in shards:
            state = (("shard", shard), ("state", "processing"))
            assert samples[("kpipe_shard_state", state)] == 1.0
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert (response.status, response.read()) == (200, b"ok\n")
        with urllib.request.urlopen(f"{url}/status", timeout=5) as response:
            status = json.loads(response.read())
        assert [s["shard_id"] for s in status] == shards
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
        reader.join(timeout=10)
    assert process.returncode == 0, "".join(lines)[-2000:]
    assert stdout.startswith(f"{sent.user_records} records: {sent.user_records} events")
    emf = [json.loads(line) for line in lines if line.startswith('{"_aws"')]
    assert emf, "no EMF line on stderr"
    document = emf[-1]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "kpipe"
    assert directive["Dimensions"] == [["Application", "Shard"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]}["millis_behind_latest"] == (
        "Milliseconds"
    )
    # each line carries the increase since the previous one: they add up to the whole run
    assert sum(line["records"] for line in emf) == sent.user_records
    assert not any("consuming" in line for line in lines)  # no bar off a terminal
