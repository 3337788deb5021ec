"""Kinesis stream autoscaling: CloudWatch alarm -> SNS -> this function -> UpdateShardCount.

Inlined into the deployment template as a Lambda function: standalone (standard library, and boto3
from the Lambda runtime, imported in the handler), so it builds its own clients and lets the
runtime report its errors. It lives with the AWS adapters because it calls AWS; the planner shares
its :func:`shards_for`. Two alarms watch
the stream's load as wanted shards per open shard (:data:`LOAD_EXPRESSION`: the busier of bytes/s
over 1 MiB and records/s over 1,000, times 1 + headroom, over the shard count): scale up above 1,
down below 0.5. On either alarm this function reads the peak minute of the last five, asks for the
shard count the planner would choose with the same headroom (:func:`shards_for`, which
``pipeline plan`` uses too), moves towards it as far as one UpdateShardCount may (double or
halve), writes the new count into both alarms' expressions and resets them to OK, so an alarm
that is still breached notifies again. A CloudWatch alarm notifies only when its state changes,
so the reset happens on every path: also when the stream is still ``UPDATING`` from the last
step, when UpdateShardCount refuses (its limits: ten calls a day, the account's shards, a
resize in progress) and when the function fails; the alarm then fires again while the load
stays, and the next invocation retries.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decimal import Decimal

MIB = 1_048_576
RECORDS_PER_SHARD = 1_000
PERIOD_S = 60
#: Wanted shards per open shard: above 1 the stream needs more, below 0.5 half would do
LOAD_EXPRESSION = "MAX([bytes/" + str(MIB) + ", records/1000])/60*(1+{headroom})/{shards}"


def shards_for(
    bytes_per_s: Decimal | float, records_per_s: Decimal | float, headroom: Decimal | float
) -> int:
    """Shards whose write limits (1 MiB/s, 1,000 records/s each) carry the load with headroom."""
    load = max(bytes_per_s / MIB, records_per_s / RECORDS_PER_SHARD) * (1 + headroom)
    return max(1, math.ceil(load))


def next_count(current: int, wanted: int, low: int, high: int) -> int:
    """One UpdateShardCount step: at most double or halve, within [low, high]."""
    step = max(math.ceil(current / 2), min(current * 2, wanted))
    return max(low, min(high, step))


def peak_rates(cloudwatch: Any, stream: str, minutes: int = 5) -> tuple[float, float]:
    """(bytes/s, records/s) of the busiest minute of the last ``minutes``."""
    import datetime

    end = datetime.datetime.now(datetime.UTC)
    queries = [
        {
            "Id": name,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Kinesis",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "StreamName", "Value": stream}],
                },
                "Period": PERIOD_S,
                "Stat": "Sum",
            },
        }
        for name, metric in (("bytes", "IncomingBytes"), ("records", "IncomingRecords"))
    ]
    response = cloudwatch.get_metric_data(
        MetricDataQueries=queries,
        StartTime=end - datetime.timedelta(minutes=minutes),
        EndTime=end,
    )
    peaks = {r["Id"]: max(r["Values"], default=0) for r in response["MetricDataResults"]}
    return peaks.get("bytes", 0) / PERIOD_S, peaks.get("records", 0) / PERIOD_S


_ALARM_KEYS = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "Metrics",
)


def retarget_alarms(cloudwatch: Any, names: list[str], shards: int | None, why: str) -> None:
    """Rewrite the load expression of each alarm for ``shards`` (None: unknown, kept) and reset
    it to OK, saying ``why`` (the alarm's history shows it)."""
    headroom = os.environ["HEADROOM"]
    for alarm in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]:
        if shards is not None:
            kwargs = {key: alarm[key] for key in _ALARM_KEYS if key in alarm}
            for query in kwargs["Metrics"]:
                if "Expression" in query:
                    query["Expression"] = LOAD_EXPRESSION.format(headroom=headroom, shards=shards)
            cloudwatch.put_metric_alarm(**kwargs)
        cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason=why)


def wanted_count(cloudwatch: Any, stream: str, current: int) -> int:
    """One UpdateShardCount step from ``current`` towards the peak load's shards."""
    bytes_per_s, records_per_s = peak_rates(cloudwatch, stream)
    wanted = shards_for(bytes_per_s, records_per_s, float(os.environ["HEADROOM"]))
    return next_count(current, wanted, int(os.environ["MIN_SHARDS"]), int(os.environ["MAX_SHARDS"]))


def handler(event: Any, context: Any) -> dict[str, Any]:
    import boto3

    stream = os.environ["STREAM_NAME"]
    kinesis = boto3.client("kinesis")
    cloudwatch = boto3.client("cloudwatch")
    out: dict[str, Any] = {"stream": stream}
    errors = kinesis.exceptions
    try:
        summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        out["shards"] = out["target"] = summary["OpenShardCount"]
        if summary["StreamStatus"] != "ACTIVE":  # the last step is still under way
            out["skipped"] = summary["StreamStatus"]
        elif (target := wanted_count(cloudwatch, stream, out["shards"])) != out["shards"]:
            kinesis.update_shard_count(
                StreamName=stream, TargetShardCount=target, ScalingType="UNIFORM_SCALING"
            )
            out["target"] = target
    except (errors.LimitExceededException, errors.ResourceInUseException) as exc:
        out["refused"] = exc.response["Error"]["Code"]  # limits, or a resize begun meanwhile
    finally:  # on every path: a still-breached alarm must notify again
        names = os.environ["ALARM_NAMES"].split(",")
        retarget_alarms(cloudwatch, names, out.get("target"), str(out))
    return out
