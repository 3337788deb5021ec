"""Workers die; results do not change: kill -9 and restart, and two workers sharing a stream.

Real ``pipeline consume --engine kcl`` workers (launcher, Java daemon, record processors) run as
process groups; kill -9 takes a whole group down at once, like a lost machine. The KCL hands the
dead worker's leases to a live one after ``failover_ms``; that worker restores each shard's
snapshot at its last checkpoint and replays from there.
"""

from __future__ import annotations

import threading

import pytest

from consumers.kcl.status import read_statuses
from pipeline.aws.clients import AwsClients
from pipeline.aws.provision import Provisioner
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions
from tests.kcl.harness import Worker, leases, results, scenario_config, send_run, wait_until
from tests.oracle_sql import assert_results_equal_oracle, device_minute_oracle

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

OPTIONS = ProduceOptions(devices=20, minutes=8, seed=23, chaos=ChaosOptions(duplicates=0.05))


def producer(config, truth, pause_s: float) -> threading.Thread:
    thread = threading.Thread(
        target=send_run, args=(config, OPTIONS, truth), kwargs={"every": 20, "pause_s": pause_s}
    )
    thread.start()
    return thread


def owners(config) -> dict[str | None, list[str]]:
    held: dict[str | None, list[str]] = {}
    for lease in leases(config):
        held.setdefault(lease.owner, []).append(lease.shard_id)
    return held


def test_kill_9_mid_run_and_restart_gives_the_oracle(emulator_url, tmp_path):
    config = scenario_config(emulator_url, "restart", shards=2)
    Provisioner(config, AwsClients(config.aws)).run()
    truth = tmp_path / "truth.jsonl"
    first = Worker(config, tmp_path, "worker-a", "--seed-leases", "--until-end-of-stream")
    second = None
    try:
        wait_until(lambda: set(owners(config)) == {"worker-a"}, 60, "worker-a to hold the leases")
        sending = producer(config, truth, pause_s=0.15)
        checkpointed = wait_until(
            lambda: [lease for lease in leases(config) if lease.checkpoint.isdigit()],
            60,
            "worker-a's first checkpoint",
        )
        first.kill9()
        assert sending.is_alive(), "the producer was done: the kill was not mid-run"
        second = Worker(config, tmp_path, "worker-b", "--until-end-of-stream")
        sending.join()
        summary = second.finish(180)
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
    assert checkpointed and set(owners(config)) == {"worker-b"}
    assert '"message":"shard restored"' in second.log.read_text()  # at worker-a's checkpoint
    assert_results_equal_oracle(results(config), device_minute_oracle(truth))
    assert " 0 late," in summary


def test_two_workers_share_four_shards_and_one_takes_over_when_the_other_dies(
    emulator_url, tmp_path
):
    config = scenario_config(emulator_url, "scaleout", shards=4)
    Provisioner(config, AwsClients(config.aws)).run()
    truth = tmp_path / "truth.jsonl"
    a = Worker(config, tmp_path, "worker-a", "--seed-leases", "--until-end-of-stream")
    b = Worker(config, tmp_path, "worker-b", "--seed-leases", "--until-end-of-stream")
    try:
        sending = producer(config, truth, pause_s=0.25)
        shared = wait_until(
            lambda: (held := owners(config)).keys() == {"worker-a", "worker-b"} and held,
            60,
            "both workers to hold leases",
        )
        assert len(shared["worker-a"]) + len(shared["worker-b"]) == 4
        wait_until(
            lambda: any(s.records for s in read_statuses(tmp_path / "worker-b" / "status")),
            30,
            "worker-b to process records",
        )
        b.kill9()
        assert sending.is_alive(), "the producer was done: the takeover was not mid-run"
        wait_until(
            lambda: owners(config) == {"worker-a": [f"shardId-00000000000{i}" for i in range(4)]},
            60,
            "worker-a to take over worker-b's leases",
        )
        sending.join()
        a.finish(180)
    finally:
        a.stop()
        b.stop()
    assert_results_equal_oracle(results(config), device_minute_oracle(truth))
