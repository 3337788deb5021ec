"""A split and a merge under load, through the real MultiLangDaemon: results stay exact.

Shard 0 is split while the producer sends, then one of its children is merged with shard 1.
The KCL finishes every parent (SHARD_END, after its final snapshot) before a child starts, and
the merged child waits for both parents; a window that straddles the reshard gets parts from a
parent and a child, merged in one DynamoDB item. The local engine, run afterwards on the same
stream, must produce the same results.
"""

from __future__ import annotations

import dataclasses

import pytest

from consumers.app import bounded, local_engine
from consumers.kcl.status import read_statuses
from pipeline.aws.clients import AwsClients
from pipeline.aws.leases import LeaseTable
from pipeline.aws.provision import Provisioner
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions
from tests.kcl.harness import (
    Worker,
    kcl_actions_outside_the_policy,
    leases,
    merge,
    results,
    scenario_config,
    send_run,
    split,
    table_schema,
    wait_until,
)
from tests.oracle_sql import assert_results_equal_oracle, device_minute_oracle

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

OPTIONS = ProduceOptions(devices=24, minutes=8, seed=11, chaos=ChaosOptions(duplicates=0.05))
PARENT, OTHER = "shardId-000000000000", "shardId-000000000001"
LOW_CHILD, HIGH_CHILD = "shardId-000000000002", "shardId-000000000003"
MERGED = "shardId-000000000004"  # HIGH_CHILD + OTHER
LINEAGE = {LOW_CHILD: (PARENT,), HIGH_CHILD: (PARENT,), MERGED: (HIGH_CHILD, OTHER)}


@pytest.fixture(scope="module")
def run(emulator_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("resharding")
    config = scenario_config(emulator_url, "reshard")
    Provisioner(config, AwsClients(config.aws)).run()
    worker = Worker(config, folder, "worker-a", "--seed-leases", "--until-end-of-stream")
    try:
        wait_until(
            lambda: {lease.owner for lease in leases(config)} == {"worker-a"},
            60,
            "worker-a to hold every lease",
        )
        truth = folder / "truth.jsonl"
        sent = send_run(
            config,
            OPTIONS,
            truth,
            steps={
                450: lambda: split(config, PARENT),
                900: lambda: merge(config, HIGH_CHILD, OTHER),
            },
        )
        assert sent > 1_300
        summary = worker.finish(180)
    finally:
        worker.stop()
    return config, folder, truth, summary


def test_every_shard_is_consumed_to_its_end_parents_before_children(run):
    config, folder, _, _ = run
    by_shard = {lease.shard_id: lease for lease in leases(config)}
    assert sorted(by_shard) == [PARENT, OTHER, LOW_CHILD, HIGH_CHILD, MERGED]
    assert {s: by_shard[s].checkpoint for s in (PARENT, OTHER, HIGH_CHILD)} == dict.fromkeys(
        (PARENT, OTHER, HIGH_CHILD), "SHARD_END"
    )
    assert set(by_shard[MERGED].parents) == {HIGH_CHILD, OTHER}
    status = {s.shard_id: s for s in read_statuses(folder / "worker-a" / "status")}
    for child, parents in LINEAGE.items():
        ended = max(status[p].checkpoint_s for p in parents)
        assert all(status[p].checkpoint == "SHARD_END" for p in parents)
        assert status[child].started_s >= ended, f"{child} started before its parents ended"


def test_results_equal_the_oracle_with_windows_merged_across_the_reshard(run):
    config, _, truth, summary = run
    items = results(config)
    assert_results_equal_oracle(items, device_minute_oracle(truth))
    straddling = [item for item in items if "," in item["shards"]]
    assert straddling, (
        "no window has parts from a parent and a child: the reshard was not mid-window"
    )
    assert " 0 late," in summary


def test_the_local_engine_gives_the_same_results_on_the_same_stream(run, emulator_url):
    config, _, _, _ = run
    other = scenario_config(emulator_url, "reshard-local")
    other = dataclasses.replace(
        other, names=dataclasses.replace(other.names, stream=config.names.stream)
    )
    clients = AwsClients(other.aws)
    Provisioner(other, clients).run()
    local_engine(bounded(other), clients).run(until_end_of_stream=True)
    kcl = {(i["pk"], i["sk"]): i for i in results(config)}
    local = {(i["pk"], i["sk"]): i for i in results(other)}
    assert kcl.keys() == local.keys()
    for key, item in kcl.items():
        for column, value in item.items():
            if column.endswith("_avg") and value is not None:
                assert local[key][column] == pytest.approx(value, rel=1e-12), (key, column)
            elif column != "version":  # how many merges it took
                assert local[key][column] == value, (key, column)


def test_a_worker_without_leases_starts_on_an_already_resharded_stream(emulator_url, tmp_path):
    """No pre-seeding: the KCL's own first shard sync lists the shards AT_TRIM_HORIZON and
    checks that they cover the hash range once (the emulator used to return every shard, and
    the worker retried forever), then follows the lineage to the open shards. The lease table
    it creates is the one pre-seeding creates."""
    config = scenario_config(emulator_url, "fresh-reshard")
    Provisioner(config, AwsClients(config.aws)).run()
    truth = tmp_path / "truth.jsonl"
    steps = {100: lambda: split(config, PARENT), 200: lambda: merge(config, HIGH_CHILD, OTHER)}
    small = dataclasses.replace(OPTIONS, devices=12, minutes=4)
    assert send_run(config, small, truth, steps=steps, pause_s=0) > 200
    worker = Worker(config, tmp_path, "worker-a", "--until-end-of-stream")
    try:
        summary = worker.finish(180)
    finally:
        worker.stop()
    assert sorted(lease.shard_id for lease in leases(config)) == [
        PARENT,
        OTHER,
        LOW_CHILD,
        HIGH_CHILD,
        MERGED,
    ]
    assert_results_equal_oracle(results(config), device_minute_oracle(truth))
    assert " 0 late," in summary
    actions, outside = kcl_actions_outside_the_policy(emulator_url, config, "fresh-reshard")
    assert outside == [], "the consumer's IAM policy lacks what the KCL called"
    assert {"dynamodb:CreateTable", "dynamodb:UpdateTable", "kinesis:ListShards"} <= actions
    seeded = LeaseTable(AwsClients(config.aws).dynamodb, "fresh-reshard-seeded")
    seeded.seed([], "TRIM_HORIZON")
    application = config.consumer.application
    assert table_schema(config, seeded.table) == table_schema(config, application)
