"""The deployment template as a CloudFormation stack on the emulator, then a small produce ->
consume -> report through what it created.

moto's CloudFormation creates the resource types it supports and skips the others with a
warning: the test pins that list (README: "Deploy to your AWS account"), then lets ``pipeline
provision`` create exactly the skipped data resources and finds every other one already there,
under the stack's names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pipeline.aws.clients import AwsClients
from pipeline.aws.provision import Provisioner
from pipeline.config import Config, load_config
from pipeline.demo import run_demo
from pipeline.deploy import render_template
from producers.run import ProduceOptions
from tests.deploy.cfn import load

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

#: What moto 5.2.5's CloudFormation cannot create (it skips them)
UNSUPPORTED = {
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::Athena::WorkGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::Logs::LogStream",
    "AWS::S3::BucketPolicy",
}


def _config(endpoint_url: str, name: str) -> Config:
    """The default configuration with every resource named after this test."""
    base = load_config(env={})
    names = dataclasses.replace(
        base.names,
        stream=f"{name}-events",
        results_table=f"{name}-results",
        state_table=f"{name}-state",
        bucket=f"{name}-lake",
        state_bucket=f"{name}-snapshots",
        glue_database=name,
        firehose_prefix=f"{name}-",
    )
    return dataclasses.replace(
        base.with_endpoint(endpoint_url),
        names=names,
        consumer=dataclasses.replace(base.consumer, application=f"{name}-consumer"),
    )


def _parameters(ec2: Any, config: Config, name: str) -> dict[str, str]:
    """The stack's parameters: the configuration's names, the default VPC, two subnets."""
    names = config.names
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    return {
        "StreamName": names.stream,
        "ResultsTableName": names.results_table,
        "StateTableName": names.state_table,
        "LakeBucketName": names.bucket,
        "StateBucketName": names.state_bucket,
        "GlueDatabaseName": names.glue_database,
        "FirehosePrefix": names.firehose_prefix,
        "ConsumerApplication": config.consumer.application,
        "AthenaWorkGroup": name,
        "ContainerImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/kpipe-consumer:test",
        "VpcId": vpc["VpcId"],
        "SubnetIds": ",".join(subnets),
    }


# moto warns once per resource type it skips
@pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
def test_stack_on_the_emulator_runs_the_pipeline(emulator, client, name, tmp_path):
    config = _config(emulator.endpoint_url, name)
    names = config.names
    parameters = _parameters(client("ec2"), config, name)
    body = render_template(load_config(env={}))
    cloudformation = client("cloudformation")
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    created = {
        r["ResourceType"]
        for r in cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
        if r["ResourceType"]
    }
    declared = {r["Type"] for r in load(body)["Resources"].values()}
    assert declared - created == UNSUPPORTED

    clients = AwsClients(config.aws)
    report = Provisioner(config, clients).run()
    assert sorted(report.existing) == sorted(
        [
            f"bucket {names.bucket}",
            f"bucket {names.state_bucket}",
            f"stream {names.stream}",
            f"table {names.results_table}",
            f"table {names.state_table}",
        ]
    )
    # moto's CloudFormation ignores the tables' TimeToLiveSpecification: provision enables it,
    # as it would on a table made without
    skipped = ("glue ", "delivery stream ", "time to live of table ")
    assert all(what.startswith(skipped) for what in report.created)

    summary = run_demo(
        config,
        tmp_path,
        ProduceOptions(devices=4, minutes=3, seed=11),
        say=lambda line: None,
    )
    c = summary.counters
    assert c.events > 0 and c.results > 0 and c.dead_letters == 0
    assert summary.lake_rows["events_iot"] == c.events
    assert summary.results_items > 0
    assert set(summary.reports) == {  # every report an IoT lake can answer
        "device_summary",
        "fleet_health",
        "pipeline_health",
        "pipeline_lag",
        "rejects",
        "site_activity",
        "site_timeseries",
    }
    assert all(rows > 0 for rows in summary.reports.values())
