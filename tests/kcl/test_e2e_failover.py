"""Workers die; results do not change: kill -9 and restart, and two workers sharing a stream.

Real ``pipeline consume --engine kcl`` workers (launcher, Java daemon, record processors) run as
process groups; kill -9 takes a whole group down at once, like a lost machine. KCL 3's leader
(the worker holding a DynamoDB lock in the coordinator-state table) hands the dead worker's
leases to a live one once they expire (``failover_ms``); that worker restores each shard's
snapshot at its last checkpoint and replays from there. When the dead worker was the leader,
nothing moves until its lock expires: KCL 3.1.3 fixes the lock's lease at 2 minutes.
"""

from __future__ import annotations

import threading

import pytest

from consumers.kcl.status import read_statuses
from pipeline.aws.clients import AwsClients
from pipeline.aws.provision import Provisioner
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions
from tests.kcl.harness import (
    Worker,
    kcl_actions_outside_the_policy,
    leader,
    leases,
    results,
    scenario_config,
    send_run,
    wait_until,
)
from tests.oracle_sql import assert_results_equal_oracle, device_minute_oracle

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

OPTIONS = ProduceOptions(devices=20, minutes=8, seed=23, chaos=ChaosOptions(duplicates=0.05))


HOLD_AT = 300  # records in the stream when the producer waits for the kill (of ~1,100)


class Producer:
    """``send_run`` in a thread that holds after ``HOLD_AT`` records until :meth:`resume`, so
    that a kill is mid-run by construction, however fast or slow the workers start."""

    def __init__(self, config, truth, pause_s: float) -> None:
        self._resumed = threading.Event()
        self.sent = 0
        steps = {HOLD_AT: lambda: self._resumed.wait(300)}

        def run() -> None:
            self.sent = send_run(config, OPTIONS, truth, steps, every=20, pause_s=pause_s)

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def resume(self) -> None:
        self._resumed.set()

    def join(self) -> None:
        self.resume()
        self.thread.join()
        assert self.sent > HOLD_AT, "the producer never held: nothing was mid-run"


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
    sending = Producer(config, truth, pause_s=0.15)
    try:
        checkpointed = wait_until(
            lambda: [lease for lease in leases(config) if lease.checkpoint.isdigit()],
            60,
            "worker-a's first checkpoint",
        )
        first.kill9()  # the leader: worker-b leads (and takes the leases) after 2 min
        second = Worker(config, tmp_path, "worker-b", "--until-end-of-stream")
        sending.join()
        summary = second.finish(300)
    finally:
        sending.resume()
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
    """The worker that dies is the one that does not lead (which one leads is a race), so its
    leases move after failover_ms, not after the leader's lock.

    KCL 3's leader also moves leases between live workers at any round to even their load (here,
    with no CPU metric, their throughput: noise on this small stream), and may even hand some to
    the dead worker until its load reports go stale. So the kill waits for a moment when both
    workers hold leases and the victim has processed records, and the takeover is read from what
    the survivor did, not from a lease table that is still moving: the producer sends the rest of
    the run and every shard's end-of-stream marker only after the kill, and the survivor ends
    (``--until-end-of-stream``: every shard checkpointed at its marker) with the oracle's results.
    """
    config = scenario_config(emulator_url, "scaleout", shards=4)
    Provisioner(config, AwsClients(config.aws)).run()
    truth = tmp_path / "truth.jsonl"
    workers = {
        name: Worker(config, tmp_path, name, "--seed-leases", "--until-end-of-stream")
        for name in ("worker-a", "worker-b")
    }
    sending = Producer(config, truth, pause_s=0.25)
    try:
        survivor = wait_until(lambda: leader(config), 60, "a leader")
        (victim,) = set(workers) - {survivor}

        def sharing() -> bool:
            processed = any(s.records for s in read_statuses(tmp_path / victim / "status"))
            return processed and set(workers) <= owners(config).keys()

        def lease_moves() -> str:
            return "\n".join(line for w in workers.values() for line in w.lease_events())

        wait_until(  # the victim dies holding leases, mid-run
            sharing,
            180,
            f"{victim} to hold leases beside {survivor} and to have processed records",
            explain=lease_moves,
        )
        workers[victim].kill9()
        sending.resume()  # the rest of the run goes to the survivor
        sending.join()
        workers[survivor].finish(240)
    finally:
        sending.resume()
        for worker in workers.values():
            worker.stop()
    assert_results_equal_oracle(results(config), device_minute_oracle(truth))
    actions, outside = kcl_actions_outside_the_policy(emulator_url, config, "scaleout")
    assert outside == [], "the consumer's IAM policy lacks what the KCL called"
    assert {"dynamodb:Query", "dynamodb:UpdateItem", "kinesis:GetRecords"} <= actions


def test_a_leader_restarted_under_its_worker_id_takes_its_leases_back_at_once(
    emulator_url, tmp_path
):
    """The restarted worker finds its own leases at start (no assignment needed), so it does
    not wait the 2 minutes of the dead leader's lock: within 60 s it processes again."""
    config = scenario_config(emulator_url, "same-id", shards=1)
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    first = Worker(config, tmp_path / "first", "worker-a", "--seed-leases")
    second = None
    try:
        wait_until(
            lambda: (
                owners(config) == {"worker-a": ["shardId-000000000000"]}
                and leader(config) == "worker-a"
            ),
            60,
            "worker-a to lead and hold the lease",
        )
        first.kill9()
        second = Worker(config, tmp_path / "second", "worker-a")
        clients.kinesis.put_record(StreamName=config.names.stream, Data=b"{}", PartitionKey="p")
        wait_until(
            lambda: any(
                s.records for s in read_statuses(tmp_path / "second" / "worker-a" / "status")
            ),
            60,
            "the restarted worker-a to process a record",
        )
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
