"""The stream autoscaler (the template's alarms and Lambda function) against the emulator: a
load above the shards' capacity grows the stream by one UpdateShardCount step, and both alarms
are rewritten for the new shard count and reset, so a still-breached alarm notifies again."""

from __future__ import annotations

import datetime

import pytest

from pipeline.aws import stream_scaler
from pipeline.config import load_config
from pipeline.deploy import render_template
from tests.deploy.cfn import Resolver, load

pytestmark = pytest.mark.emulator


def test_alarm_to_update_shard_count_round_trip(emulator, client, name, monkeypatch):
    stack = Resolver(
        load(render_template(load_config(env={}))),
        {"AWS::StackName": name, "StreamName": name, "ShardCount": 2},
    )
    kinesis, cloudwatch = client("kinesis"), client("cloudwatch")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    alarms = stack.resources("AWS::CloudWatch::Alarm")
    for alarm in ("StreamScaleUpAlarm", "StreamScaleDownAlarm"):
        cloudwatch.put_metric_alarm(**alarms[alarm])
    # the busiest minute: 3 MiB/s and 500 records/s -> ceil(3 * 1.25) = 4 shards wanted
    minute = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=30)
    dimensions = [{"Name": "StreamName", "Value": name}]
    cloudwatch.put_metric_data(
        Namespace="AWS/Kinesis",
        MetricData=[
            {
                "MetricName": "IncomingBytes",
                "Dimensions": dimensions,
                "Timestamp": minute,
                "Value": 3 * 1_048_576 * 60.0,
            },
            {
                "MetricName": "IncomingRecords",
                "Dimensions": dimensions,
                "Timestamp": minute,
                "Value": 500 * 60.0,
            },
        ],
    )
    (function,) = stack.resources("AWS::Lambda::Function").values()
    for key, value in function["Environment"]["Variables"].items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    assert stream_scaler.handler({}, None) == {"stream": name, "shards": 2, "target": 4}

    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 4
    described = cloudwatch.describe_alarms(
        AlarmNames=[f"{name}-stream-scale-up", f"{name}-stream-scale-down"]
    )["MetricAlarms"]
    assert len(described) == 2
    for alarm in described:
        expressions = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
        assert expressions == ["MAX([bytes/1048576, records/1000])/60*(1+0.25)/4"]
        assert alarm["StateValue"] == "OK"
