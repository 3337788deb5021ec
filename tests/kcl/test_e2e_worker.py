"""One real KCL worker, operated: KPL records de-aggregated, metrics served, SIGTERM checkpoints.

The checkpoint interval is made very long, so the only checkpoint is the one
``shutdown_requested`` writes when the launcher forwards SIGTERM to the daemon.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import urllib.request

import msgspec
import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from pipeline.aws.clients import AwsClients
from pipeline.aws.provision import Provisioner
from pipeline.testing import iot_event
from tests.kcl.harness import Worker, free_port, leases, scenario_config, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

T0 = 1_767_225_600_000
SHARD = "shardId-000000000000"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def test_sigterm_writes_the_last_checkpoint_and_metrics_are_served(emulator_url, tmp_path):
    config = scenario_config(emulator_url, "worker", shards=1)
    config = dataclasses.replace(
        config, consumer=dataclasses.replace(config.consumer, checkpoint_interval_s=1e9)
    )
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    port = free_port()
    worker = Worker(config, tmp_path, "worker-a", "--seed-leases", "--metrics-port", str(port))
    try:
        wait_until(
            lambda: [lease.owner for lease in leases(config)] == ["worker-a"],
            60,
            "worker-a to take the lease",
        )
        stream = config.names.stream
        encode = msgspec.json.encode
        for n in range(3):
            clients.kinesis.put_record(
                StreamName=stream, Data=encode(iot_event(n, T0 + n)), PartitionKey="p"
            )
        aggregator = RecordAggregator()  # a KPL aggregate of 3 user records
        for n in range(3, 6):
            aggregator.add_user_record("p", encode(iot_event(n, T0 + n)))
        key, _, data = aggregator.clear_and_get().get_contents()
        packed = clients.kinesis.put_record(StreamName=stream, Data=data, PartitionKey=key)

        metrics = f"http://127.0.0.1:{port}/metrics"
        wait_until(
            lambda: f'kpipe_shard_events_total{{shard="{SHARD}"}} 6.0' in get(metrics)[1],
            60,
            "the metrics to count 6 events",
        )
        body = get(metrics)[1]
        assert "kpipe_kcl_daemon_up 1.0" in body
        assert f'kpipe_shard_records_total{{shard="{SHARD}"}} 6.0' in body
        assert f'kpipe_shard_state{{shard="{SHARD}",state="processing"}} 1.0' in body
        assert get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        assert leases(config)[0].checkpoint == "TRIM_HORIZON"  # nothing checkpointed yet

        os.kill(worker.process.pid, signal.SIGTERM)
        summary = worker.finish(60)
    finally:
        worker.stop()
    assert summary.startswith("6 records: 6 events, 0 duplicates")
    (lease,) = leases(config)
    assert (lease.checkpoint, lease.sub_sequence_number) == (packed["SequenceNumber"], 2)
