"""Stream autoscaling for provisioned mode: CloudWatch alarms -> SNS -> Lambda -> UpdateShardCount.

The seed's "Kinesis AutoScale" design. Only created when StreamMode is PROVISIONED and
StreamAutoscaling is true (condition ``ScaleStream``); on-demand streams scale themselves.
The function's code is :mod:`pipeline.aws.stream_scaler`, inlined.
"""

from __future__ import annotations

import ast
from importlib import resources
from typing import Any

from pipeline.aws.stream_scaler import LOAD_EXPRESSION, PERIOD_S
from pipeline.deploy.cfn import get_att, ref, sub
from pipeline.deploy.data import log_group
from pipeline.deploy.policies import SCALE_ALARMS

CONDITION = "ScaleStream"
FUNCTION_NAME = "${AWS::StackName}-stream-scaler"
UP_ALARM = f"{SCALE_ALARMS}-up"
DOWN_ALARM = f"{SCALE_ALARMS}-down"


def scaler_source() -> str:
    """The function's code as deployed: the module without docstrings and comments (templates
    sent without an S3 bucket must stay under 51,200 bytes)."""
    text = resources.files("pipeline.aws").joinpath("stream_scaler.py").read_text("utf-8")
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            del body[0]
    return ast.unparse(tree) + "\n"


def _load_alarm(name: str, operator: str, threshold: float, minutes: int, missing: str) -> dict:
    def metric(metric_id: str, metric_name: str) -> dict[str, Any]:
        return {
            "Id": metric_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Kinesis",
                    "MetricName": metric_name,
                    "Dimensions": [{"Name": "StreamName", "Value": ref("Stream")}],
                },
                "Period": PERIOD_S,
                "Stat": "Sum",
            },
        }

    expression = LOAD_EXPRESSION.format(headroom="${ScalingHeadroom}", shards="${ShardCount}")
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Condition": CONDITION,
        "Properties": {
            "AlarmName": sub(name),
            "AlarmDescription": "Stream load in wanted shards per open shard (see stream_scaler)",
            "Metrics": [
                metric("bytes", "IncomingBytes"),
                metric("records", "IncomingRecords"),
                {"Id": "load", "Expression": sub(expression), "ReturnData": True},
            ],
            "ComparisonOperator": operator,
            "Threshold": threshold,
            "EvaluationPeriods": minutes,
            "DatapointsToAlarm": minutes,
            "TreatMissingData": missing,
            "AlarmActions": [ref("ScalingTopic")],
        },
    }


def stream_scaling(role: str) -> dict[str, Any]:
    """Scale up after 2 minutes above the shards' capacity (with headroom); down after 15
    minutes in which half the shards would do (an idle stream counts as such)."""
    return {
        "ScalingTopic": {
            "Type": "AWS::SNS::Topic",
            "Condition": CONDITION,
            "Properties": {
                "Subscription": [{"Protocol": "lambda", "Endpoint": get_att("StreamScaler", "Arn")}]
            },
        },
        "StreamScalerLogGroup": {
            **log_group(sub(f"/aws/lambda/{FUNCTION_NAME}")),
            "Condition": CONDITION,
        },
        "StreamScaler": {
            "Type": "AWS::Lambda::Function",
            "Condition": CONDITION,
            "DependsOn": "StreamScalerLogGroup",
            "Properties": {
                "FunctionName": sub(FUNCTION_NAME),
                "Description": "Kinesis stream autoscaling (pipeline/aws/stream_scaler.py)",
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Timeout": 60,
                "Role": get_att(role, "Arn"),
                "Environment": {
                    "Variables": {
                        "STREAM_NAME": ref("Stream"),
                        "HEADROOM": ref("ScalingHeadroom"),
                        "MIN_SHARDS": ref("MinShardCount"),
                        "MAX_SHARDS": ref("MaxShardCount"),
                        "ALARM_NAMES": sub(f"{UP_ALARM},{DOWN_ALARM}"),
                    }
                },
                "Code": {"ZipFile": scaler_source()},
            },
        },
        "StreamScalerPermission": {
            "Type": "AWS::Lambda::Permission",
            "Condition": CONDITION,
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref("StreamScaler"),
                "Principal": "sns.amazonaws.com",
                "SourceArn": ref("ScalingTopic"),
            },
        },
        "StreamScaleUpAlarm": _load_alarm(UP_ALARM, "GreaterThanThreshold", 1, 2, "notBreaching"),
        "StreamScaleDownAlarm": _load_alarm(DOWN_ALARM, "LessThanThreshold", 0.5, 15, "breaching"),
    }
