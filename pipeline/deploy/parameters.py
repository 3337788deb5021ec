"""The template's parameters: names, sizes and retention, defaulting to the configuration's values.

With the defaults, the stack holds exactly what ``pipeline provision`` creates for the same
configuration (a test checks it), so a local run on the emulator tests what is deployed. The
container gets the same names as ``PIPELINE_*`` variables (:func:`container_environment`).
"""

from __future__ import annotations

from typing import Any

from pipeline.config import Config
from pipeline.deploy.cfn import equals, ref

LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]
FARGATE_CPU = ["256", "512", "1024", "2048", "4096"]


def _string(default: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "String", "Default": default, "Description": description, **extra}


def _number(default: int, description: str, low: int, high: int) -> dict[str, Any]:
    return {
        "Type": "Number",
        "Default": default,
        "MinValue": low,
        "MaxValue": high,
        "Description": description,
    }


def parameters(config: Config) -> dict[str, dict[str, Any]]:
    names = config.names
    return {
        # names: the [names] section of the configuration
        "StreamName": _string(names.stream, "Kinesis stream (names.stream)"),
        "ResultsTableName": _string(names.results_table, "Window results (names.results_table)"),
        "StateTableName": _string(
            names.state_table, "Local engine checkpoints (names.state_table)"
        ),
        "LakeBucketName": _string(names.bucket, "Lake bucket, globally unique (names.bucket)"),
        "StateBucketName": _string(names.state_bucket, "State snapshots (names.state_bucket)"),
        "GlueDatabaseName": _string(names.glue_database, "Glue database (names.glue_database)"),
        "FirehosePrefix": _string(names.firehose_prefix, "Delivery stream name prefix"),
        "AlertsTopicName": _string(names.alerts_topic, "Alerts SNS topic"),
        "LakeEventsQueueName": _string(names.lake_events_queue, "New lake objects SQS queue"),
        "ConsumerApplication": _string(
            config.consumer.application, "KCL application: lease table and metrics namespace"
        ),
        # the stream
        "StreamMode": _string(
            "PROVISIONED",
            "PROVISIONED (shards, autoscaled by alarms) or ON_DEMAND (pay per GB)",
            AllowedValues=["PROVISIONED", "ON_DEMAND"],
        ),
        "ShardCount": _number(config.stream.shards, "Initial shards (provisioned)", 1, 10_000),
        "StreamRetentionHours": _number(
            max(24, config.stream.retention_hours), "Stream retention", 24, 8760
        ),
        "StreamAutoscaling": _string(
            "true", "Scale provisioned shards on load", AllowedValues=["true", "false"]
        ),
        "MinShardCount": _number(1, "Autoscaling floor", 1, 10_000),
        "MaxShardCount": _number(16, "Autoscaling ceiling", 1, 10_000),
        "ScalingHeadroom": _string("0.25", "Load headroom of the shard target (0.25: +25%)"),
        # the lake
        "FirehoseBufferMiB": _number(
            config.firehose.buffer_mib, "Buffer size (Parquet conversion needs >= 64)", 64, 128
        ),
        "FirehoseBufferSeconds": _number(config.firehose.buffer_seconds, "Buffer time", 0, 900),
        "RawDataRetentionDays": _number(365, "Events, late events, dead letters, errors", 1, 36500),
        "ResultsRetentionDays": _number(1825, "Window result tables in the lake", 1, 36500),
        "AthenaWorkGroup": _string(names.glue_database, "Athena workgroup"),
        "AthenaBytesScannedCutoff": _number(
            10 * 1024**3, "Per-query scan limit in bytes", 10 * 1024**2, 2**50
        ),
        # the consumer service
        "ContainerImage": {
            "Type": "String",
            "Description": "Consumer image URI (the repository's Dockerfile, pushed to ECR)",
        },
        "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "VPC of the consumer tasks"},
        "SubnetIds": {
            "Type": "List<AWS::EC2::Subnet::Id>",
            "Description": "Subnets with a route to AWS APIs (NAT, endpoints or public IP)",
        },
        "AssignPublicIp": _string(
            "ENABLED", "ENABLED in public subnets", AllowedValues=["ENABLED", "DISABLED"]
        ),
        "TaskCpu": _string("1024", "Fargate CPU units per worker", AllowedValues=FARGATE_CPU),
        "TaskMemory": _string("2048", "Fargate memory (MiB) per worker, valid for TaskCpu"),
        "CpuArchitecture": _string(
            "X86_64", "Image architecture", AllowedValues=["X86_64", "ARM64"]
        ),
        "MinWorkers": _number(1, "KCL workers (tasks) at least", 1, 1000),
        "MaxWorkers": _number(4, "KCL workers at most (more than shards sit idle)", 1, 1000),
        "CpuTargetPercent": _number(60, "Worker CPU target", 10, 90),
        "IteratorAgeScaleOutMs": _number(60_000, "Add a worker above this lag", 1000, 86_400_000),
        "LogRetentionDays": {
            "Type": "Number",
            "Default": 30,
            "AllowedValues": LOG_RETENTION_DAYS,
            "Description": "Log groups' retention",
        },
    }


CONDITIONS: dict[str, Any] = {
    "Provisioned": equals(ref("StreamMode"), "PROVISIONED"),
    "ScaleStream": {
        "Fn::And": [
            {"Condition": "Provisioned"},
            equals(ref("StreamAutoscaling"), "true"),
        ]
    },
}


def container_environment(config: Config) -> list[dict[str, Any]]:
    """The consumer's ``PIPELINE_*`` variables: the stack's names override the image's config."""
    variables = {
        "PIPELINE_AWS_REGION": "${AWS::Region}",
        "PIPELINE_STREAM_EVENT_TYPE": config.stream.event_type,
        "PIPELINE_NAMES_STREAM": "${StreamName}",
        "PIPELINE_NAMES_RESULTS_TABLE": "${ResultsTableName}",
        "PIPELINE_NAMES_STATE_TABLE": "${StateTableName}",
        "PIPELINE_NAMES_BUCKET": "${LakeBucketName}",
        "PIPELINE_NAMES_STATE_BUCKET": "${StateBucketName}",
        "PIPELINE_NAMES_GLUE_DATABASE": "${GlueDatabaseName}",
        "PIPELINE_NAMES_FIREHOSE_PREFIX": "${FirehosePrefix}",
        "PIPELINE_CONSUMER_APPLICATION": "${ConsumerApplication}",
    }
    return [{"Name": name, "Value": value} for name, value in variables.items()]
