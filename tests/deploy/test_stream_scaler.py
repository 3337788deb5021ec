"""The stream autoscaler (the template's alarms and Lambda function) against the emulator: a
load above the shards' capacity grows the stream by one UpdateShardCount step, and both alarms
are rewritten for the new shard count and reset, so a still-breached alarm notifies again; the
reset happens on every path (a stream still UPDATING, UpdateShardCount refused)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.kinesis.models import kinesis_backends

from pipeline.aws import stream_scaler
from pipeline.config import load_config
from pipeline.deploy import render_template
from pipeline.emulator import fault_stats, set_faults
from tests.deploy.cfn import Resolver, load

pytestmark = pytest.mark.emulator


@pytest.fixture
def scaled(emulator, client, name, monkeypatch) -> dict[str, Any]:
    """A 2-shard stream, its two alarms in ALARM, and a busiest minute of 3 MiB/s and 500
    records/s: ceil(3 * 1.25) = 4 shards wanted."""
    stack = Resolver(
        load(render_template(load_config(env={}))),
        {"AWS::StackName": name, "StreamName": name, "ShardCount": 2},
    )
    kinesis, cloudwatch = client("kinesis"), client("cloudwatch")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    alarms = stack.resources("AWS::CloudWatch::Alarm")
    names = [f"{name}-stream-scale-up", f"{name}-stream-scale-down"]
    for alarm in ("StreamScaleUpAlarm", "StreamScaleDownAlarm"):
        cloudwatch.put_metric_alarm(**alarms[alarm])
    for alarm in names:
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="load")
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
    yield {"kinesis": kinesis, "cloudwatch": cloudwatch, "alarms": names}
    set_faults(emulator.endpoint_url, None)


def open_shards(kinesis: Any, name: str) -> int:
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
        "OpenShardCount"
    ]


def alarms_after(cloudwatch: Any, names: list[str]) -> list[tuple[str, list[str]]]:
    """Each alarm's state and load expression(s)."""
    described = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert len(described) == 2
    return [
        (a["StateValue"], [m["Expression"] for m in a["Metrics"] if "Expression" in m])
        for a in described
    ]


def expression(shards: int) -> list[str]:
    return [f"MAX([bytes/1048576, records/1000])/60*(1+0.25)/{shards}"]


def test_alarm_to_update_shard_count_round_trip(scaled, name):
    assert stream_scaler.handler({}, None) == {"stream": name, "shards": 2, "target": 4}
    assert open_shards(scaled["kinesis"], name) == 4
    assert alarms_after(scaled["cloudwatch"], scaled["alarms"]) == [("OK", expression(4))] * 2


def test_a_stream_still_updating_is_left_alone_but_its_alarms_are_reset(scaled, name):
    stream = kinesis_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].streams[name]
    stream.status = "UPDATING"  # the previous step is still resharding
    try:
        outcome = stream_scaler.handler({}, None)
    finally:
        stream.status = "ACTIVE"
    assert outcome == {"stream": name, "shards": 2, "target": 2, "skipped": "UPDATING"}
    assert open_shards(scaled["kinesis"], name) == 2
    assert alarms_after(scaled["cloudwatch"], scaled["alarms"]) == [("OK", expression(2))] * 2


@pytest.mark.parametrize("code", ["LimitExceededException", "ResourceInUseException"])
def test_a_refused_update_shard_count_resets_the_alarms_too(emulator, scaled, name, code):
    """UpdateShardCount's limits (ten calls a day, the account's shards) and a resize started
    since DescribeStreamSummary: the alarms fire again while the load stays, and retry."""
    rule = {"service": "kinesis", "operation": "UpdateShardCount", "kind": "refuse", "code": code}
    set_faults(emulator.endpoint_url, {"rules": [rule]})
    outcome = stream_scaler.handler({}, None)
    assert fault_stats(emulator.endpoint_url)["kinesis.UpdateShardCount.refuse"] >= 1
    assert outcome == {"stream": name, "shards": 2, "target": 2, "refused": code}
    assert open_shards(scaled["kinesis"], name) == 2
    assert alarms_after(scaled["cloudwatch"], scaled["alarms"]) == [("OK", expression(2))] * 2
    described = scaled["cloudwatch"].describe_alarms(AlarmNames=scaled["alarms"])
    assert {a["StateReason"] for a in described["MetricAlarms"]} == {str(outcome)}  # its history


def test_a_failure_still_resets_the_alarms(emulator, scaled, name):
    """An error the function does not handle (its role lost a permission, say) fails the
    invocation, and still leaves the alarms able to notify again."""
    rule = {
        "service": "kinesis",
        "operation": "UpdateShardCount",
        "kind": "refuse",
        "code": "AccessDeniedException",
    }
    set_faults(emulator.endpoint_url, {"rules": [rule]})
    with pytest.raises(Exception, match="AccessDeniedException"):
        stream_scaler.handler({}, None)
    assert alarms_after(scaled["cloudwatch"], scaled["alarms"]) == [("OK", expression(2))] * 2
