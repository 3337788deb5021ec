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


class _Lean(ast.NodeTransformer):
    """Drops what the running code does not need: docstrings, type annotations and the imports
    only they use (templates sent without an S3 bucket must stay under 51,200 bytes)."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
            arg.annotation = None
        return self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        return None if node.module in ("__future__", "typing") else node

    def visit_If(self, node: ast.If) -> ast.AST | None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return None
        return self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            del body[0]
        return super().generic_visit(node)


def scaler_source() -> str:
    """The function's code as deployed: the module, lean (:class:`_Lean`) and compact (one
    space per indentation level, no blank lines: ``ast.unparse`` writes one statement per line
    with four spaces per level and no multi-line strings)."""
    text = resources.files("pipeline.aws").joinpath("stream_scaler.py").read_text("utf-8")
    lean = ast.unparse(ast.fix_missing_locations(_Lean().visit(ast.parse(text))))
    lines = [line for line in lean.splitlines() if line.strip()]
    return "".join(
        " " * ((len(ln) - len(ln.lstrip(" "))) // 4) + ln.lstrip(" ") + "\n" for ln in lines
    )


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
            "AlarmDescription": "Wanted shards per open shard (stream_scaler)",
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
                "Description": "Kinesis stream autoscaling (stream_scaler.py)",
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
