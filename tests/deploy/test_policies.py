"""Each IAM policy allows exactly the AWS actions its component calls.

The Python side is scanned: every boto3 operation called (``client.put_records(...)``,
``get_paginator("list_objects_v2")``) in the AWS adapters each component runs (every AWS call is
in :mod:`pipeline.aws`), following ``self.method()`` calls inside a class, mapped to its IAM
action. What no scan of ours can see (the Java KCL
daemon, AWS services acting on our behalf, pyarrow's S3 reads, Athena) is declared separately in
:mod:`pipeline.deploy.policies`, with its source, and checked against the KCL's properties.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Iterator

import boto3
import pytest

from pipeline.config import load_config
from pipeline.deploy.policies import POLICIES

#: IAM action names that differ from the operation names (S3's are historical; a transaction is
#: authorised per contained action, and ours contains conditional Puts only)
IAM_ACTION = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "HeadObject"): "s3:GetObject",
    ("dynamodb", "TransactWriteItems"): "dynamodb:PutItem",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
}

#: component -> (module, class or None for module functions, methods / functions or None for
#: all, services): the adapters (pipeline.aws) each component calls
COMPONENTS = {
    "producer": [
        (
            "pipeline.aws.kinesis",
            "KinesisStream",
            ("put_records", "open_shard_hash_ranges"),
            ("kinesis",),
        ),
    ],
    "consumer": [
        ("pipeline.aws.sinks", "AwsOutputSink", None, ("s3",)),
        ("pipeline.aws.firehose", "FirehoseWriter", None, ("firehose",)),
        ("pipeline.aws.dynamodb", "ResultsTable", ("write",), ("dynamodb",)),
        ("pipeline.aws.state", "SnapshotStore", None, ("s3",)),
        ("pipeline.aws.s3", None, ("delete_keys",), ("s3",)),  # pruning old snapshots
        # pipeline kcl doctor's probe of the results table is the consumer's own read
        ("pipeline.aws.dynamodb", "ResultsTable", ("probe",), ("dynamodb",)),
    ],
    "reporting": [
        ("pipeline.aws.s3", None, ("delete_keys", "notify_queue"), ("s3",)),
        ("pipeline.aws.sqs", None, None, ("sqs",)),
        ("pipeline.aws.sqs", "Queue", None, ("sqs",)),
        ("pipeline.aws.sns", None, None, ("sns",)),
        ("pipeline.aws.dynamodb", "AlertMarks", None, ("dynamodb",)),
        ("pipeline.aws.dynamodb", "ResultsTable", ("scan",), ("dynamodb",)),
    ],
    "stream-scaler": [
        ("pipeline.aws.stream_scaler", None, None, ("kinesis", "cloudwatch")),
    ],
}


def _operations(service: str) -> dict[str, str]:
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return dict(client.meta.method_to_api_mapping)


def _functions(module: str, cls: str | None, methods: tuple[str, ...] | None) -> Iterator[ast.AST]:
    """The function bodies a component runs: the given methods and every self.method() they call."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(importlib.import_module(module))))
    if cls is None:
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        yield from (n for n in functions if methods is None or n.name in methods)
        return
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    defs = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    pending, seen = list(methods or defs), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        yield defs[name]
        for call in ast.walk(defs[name]):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "self"
                and call.func.attr in defs
            ):
                pending.append(call.func.attr)


def scanned_actions(component: str) -> set[str]:
    actions = set()
    for module, cls, methods, services in COMPONENTS[component]:
        operations = {service: _operations(service) for service in services}
        for function in _functions(module, cls, methods):
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                    continue
                names = [call.func.attr]
                if call.func.attr == "get_paginator" and isinstance(call.args[0], ast.Constant):
                    names = [call.args[0].value]
                for service, ops in operations.items():
                    for name in names:
                        if name in ops and name not in ("get_paginator", "get_waiter"):
                            op = ops[name]
                            actions.add(IAM_ACTION.get((service, op), f"{service}:{op}"))
    return actions


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_policy_allows_exactly_what_the_code_calls(component):
    assert POLICIES[component].actions(scanned_only=True) == scanned_actions(component)


def test_scan_sees_the_calls_it_should():
    assert scanned_actions("producer") == {"kinesis:PutRecords", "kinesis:ListShards"}
    assert "s3:ListBucket" in scanned_actions("consumer")  # through get_paginator


def test_declared_kcl_actions_match_the_daemon_properties_the_image_runs():
    """The consumer policy has the KCL's polling actions and no metrics permission: what
    ``kcl.retrieval_mode`` and ``kcl.metrics_level`` give in the deployed configuration."""
    properties = pytest.importorskip("consumers.kcl.properties")
    config = load_config(env={})
    written = properties.daemon_properties(config, "python -m consumers.kcl.child")
    actions = POLICIES["consumer"].actions()
    assert written["retrievalMode"] == "POLLING"
    assert not {"kinesis:SubscribeToShard", "kinesis:RegisterStreamConsumer"} & actions
    assert written["metricsLevel"] == "NONE"
    assert "cloudwatch:PutMetricData" not in actions
    assert {"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"} <= actions


def test_no_policy_grants_a_wildcard_action_or_a_wildcard_resource_beyond_the_unscopable():
    unscopable = {"cloudwatch:GetMetricData", "ecr:GetAuthorizationToken"}
    for policy in POLICIES.values():
        for statement in policy.statements:
            assert all("*" not in action for action in statement.actions), policy.name
            if "*" in statement.resources:
                assert set(statement.actions) <= unscopable, (policy.name, statement.sid)
