"""The deployment template: checked in as generated, cfn-lint clean, and describing exactly what
``pipeline provision`` creates locally (names, key schemas, Glue schemas and partition projection,
Firehose prefixes, buffering and Parquet conversion)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cfnlint.api import ManualArgs, lint

from pipeline.aws.provision import Provisioner
from pipeline.config import Config, load_config
from pipeline.deploy import policy_files, render_template
from pipeline.deploy.parameters import container_environment
from tests.deploy.cfn import Resolver, load

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/firehose"


def default_config() -> Config:
    return load_config(env={})


def web_config() -> Config:
    """Another event type: its own events table and the web window job."""
    return load_config(env={"PIPELINE_STREAM_EVENT_TYPE": "web"})


def test_checked_in_artifacts_are_what_the_default_configuration_generates():
    config = default_config()
    assert (ROOT / "deploy" / "template.yaml").read_text() == render_template(config), (
        "regenerate with: pipeline template --out deploy"
    )
    for name, text in policy_files().items():
        assert (ROOT / "deploy" / "policies" / name).read_text() == text, name


@pytest.mark.parametrize("make_config", [default_config, web_config])
def test_cfn_lint_reports_nothing(make_config):
    matches = lint(render_template(make_config()), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_default_template_deploys_without_an_artifact_bucket():
    # CloudFormation takes a template body of up to 51,200 bytes; larger ones need --s3-bucket
    assert len((ROOT / "deploy" / "template.yaml").read_bytes()) <= 51_200


class _Recorder:
    """A stand-in for one boto3 client that records every call Provisioner makes."""

    def __init__(self, service: str, calls: list[tuple[str, str, dict[str, Any]]]):
        self.service, self.calls = service, calls

    def head_bucket(self, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "404"}}, "HeadBucket")

    def describe_stream_summary(self, **kwargs: Any) -> dict[str, Any]:
        return {"StreamDescriptionSummary": {"StreamStatus": "ACTIVE", "OpenShardCount": 1}}

    def describe_time_to_live(self, **kwargs: Any) -> dict[str, Any]:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}

    def get_waiter(self, name: str) -> Any:
        return type("Waiter", (), {"wait": lambda self, **kwargs: None})()

    def __getattr__(self, operation: str) -> Any:
        return lambda **kwargs: self.calls.append((self.service, operation, kwargs))


class _Clients:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        for service in ("s3", "kinesis", "dynamodb", "glue", "firehose"):
            setattr(self, service, _Recorder(service, self.calls))


def provisioned(config: Config) -> dict[str, list[dict[str, Any]]]:
    config = dataclasses.replace(
        config, names=dataclasses.replace(config.names, firehose_role_arn=ROLE)
    )
    clients = _Clients()
    Provisioner(config, clients).run()  # type: ignore[arg-type]
    out: dict[str, list[dict[str, Any]]] = {}
    for service, operation, kwargs in clients.calls:
        out.setdefault(f"{service}.{operation}", []).append(kwargs)
    return out


def _without_roles(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_roles(v) for k, v in value.items() if k != "RoleARN"}
    return value


@pytest.mark.parametrize("make_config", [default_config, web_config])
def test_template_describes_what_provision_creates(make_config):
    config = make_config()
    calls = provisioned(config)
    stack = Resolver(load(render_template(config)))

    buckets = {p["BucketName"] for p in stack.resources("AWS::S3::Bucket").values()}
    assert buckets == {c["Bucket"] for c in calls["s3.create_bucket"]}

    (stream,) = stack.resources("AWS::Kinesis::Stream").values()
    (created,) = calls["kinesis.create_stream"]
    assert (stream["Name"], stream["ShardCount"], stream["StreamModeDetails"]) == (
        created["StreamName"],
        created["ShardCount"],
        created["StreamModeDetails"],
    )

    _same_dynamodb_tables(stack, calls)

    (database,) = stack.resources("AWS::Glue::Database").values()
    assert (
        database["DatabaseInput"]["Name"]
        == calls["glue.create_database"][0]["DatabaseInput"]["Name"]
    )
    glue = {p["TableInput"]["Name"]: p for p in stack.resources("AWS::Glue::Table").values()}
    assert set(glue) == {c["TableInput"]["Name"] for c in calls["glue.create_table"]}
    for c in calls["glue.create_table"]:
        table = glue[c["TableInput"]["Name"]]
        assert table["DatabaseName"] == c["DatabaseName"]
        # columns, partition keys, projection, locations: the whole table input
        assert table["TableInput"] == c["TableInput"]

    firehose = {
        p["DeliveryStreamName"]: p
        for p in stack.resources("AWS::KinesisFirehose::DeliveryStream").values()
    }
    assert set(firehose) == {
        c["DeliveryStreamName"] for c in calls["firehose.create_delivery_stream"]
    }
    for c in calls["firehose.create_delivery_stream"]:
        deployed = firehose[c["DeliveryStreamName"]]
        assert deployed["DeliveryStreamType"] == c["DeliveryStreamType"]
        local = _without_roles(c["ExtendedS3DestinationConfiguration"])
        remote = _without_roles(deployed["ExtendedS3DestinationConfiguration"])
        # every setting provision makes (prefixes, buffering, compression, conversion) is deployed
        assert {k: remote[k] for k in local} == local
        destination = deployed["ExtendedS3DestinationConfiguration"]
        role = "<FirehoseRole.Arn>"
        assert destination["RoleARN"] == role
        assert (
            destination["DataFormatConversionConfiguration"]["SchemaConfiguration"]["RoleARN"]
            == role
        )


def _same_dynamodb_tables(stack: Resolver, calls: dict[str, list[dict[str, Any]]]) -> None:
    """The template's tables are provision's: keys, billing, encryption and TTL."""
    tables = {p["TableName"]: p for p in stack.resources("AWS::DynamoDB::Table").values()}
    assert set(tables) == {c["TableName"] for c in calls["dynamodb.create_table"]}
    for c in calls["dynamodb.create_table"]:
        table = tables[c["TableName"]]
        for key in ("KeySchema", "AttributeDefinitions", "BillingMode"):
            assert table[key] == c[key], (c["TableName"], key)
        assert table["SSESpecification"]["SSEEnabled"] is c["SSESpecification"]["Enabled"]
    ttls = {
        c["TableName"]: c["TimeToLiveSpecification"] for c in calls["dynamodb.update_time_to_live"]
    }
    assert ttls == {name: table["TimeToLiveSpecification"] for name, table in tables.items()}


def test_parquet_conversion_buffer_can_only_be_set_within_aws_limits():
    parameters = load(render_template(default_config()))["Parameters"]
    assert (
        parameters["FirehoseBufferMiB"]["MinValue"],
        parameters["FirehoseBufferMiB"]["MaxValue"],
    ) == (64, 128)
    assert (
        parameters["FirehoseBufferSeconds"]["MinValue"],
        parameters["FirehoseBufferSeconds"]["MaxValue"],
    ) == (0, 900)


def test_on_demand_mode_drops_the_shard_count_and_the_stream_autoscaling():
    template = load(render_template(default_config()))
    stack = Resolver(template, {"StreamMode": "ON_DEMAND"})
    (stream,) = stack.resources("AWS::Kinesis::Stream").values()
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in stream
    assert stack.resources("AWS::Lambda::Function") == {}
    assert stack.resources("AWS::CloudWatch::Alarm").keys() == {"IteratorAgeAlarm"}
    provisioned_stack = Resolver(template)
    assert provisioned_stack.resources("AWS::CloudWatch::Alarm").keys() == {
        "IteratorAgeAlarm",
        "StreamScaleUpAlarm",
        "StreamScaleDownAlarm",
    }


def test_consumer_task_runs_the_image_entry_point_with_the_stacks_names():
    config = default_config()
    stack = Resolver(load(render_template(config)))
    (task,) = stack.resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["ContainerDefinitions"]
    assert "Command" not in container and "EntryPoint" not in container
    env = {v["Name"]: v["Value"] for v in container["Environment"]}
    assert len(env) == len(container_environment(config))
    # the container's configuration, read the way the image reads it, names what the stack holds
    assert load_config(env=env) == dataclasses.replace(
        config, aws=dataclasses.replace(config.aws, region="us-east-1")
    )
