"""The emulator's log of the AWS SDK for Java's calls: what the KCL daemon's IAM policy needs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipeline.emulator import EmbeddedEmulator, java_calls

pytestmark = pytest.mark.emulator

JAVA = "aws-sdk-java/2.33.0 md/io#sync md/http#Apache ua/2.1 os/Linux#6.1 lang/java#17.0.15"


def call(emulator: EmbeddedEmulator, service: str, target: str, body: dict[str, Any]) -> int:
    """One JSON-protocol request as the Java SDK sends it; returns the HTTP status."""
    request = urllib.request.Request(
        emulator.endpoint_url,
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/x-amz-json-1.0",
            "x-amz-target": target,
            "user-agent": JAVA,
            "authorization": (
                f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_the_java_sdks_calls_are_counted_by_resource_and_boto3s_are_not(
    emulator: EmbeddedEmulator, client: Callable[[str], Any], name: str
) -> None:
    table = {"TableName": name}
    # refused calls count too: IAM authorises a call before the service looks at it
    assert call(emulator, "dynamodb", "DynamoDB_20120810.DescribeTable", table) == 400
    query = {**table, "IndexName": "byOwner", "KeyConditionExpression": "o = :o"}
    call(emulator, "dynamodb", "DynamoDB_20120810.Query", query)
    call(emulator, "dynamodb", "DynamoDB_20120810.DescribeTable", table)
    stream = {"StreamARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{name}"}
    call(emulator, "kinesis", "Kinesis_20131202.DescribeStreamSummary", stream)
    with pytest.raises(ClientError):
        client("dynamodb").describe_table(TableName=name)  # boto3: our code, scanned instead
    assert [c for c in java_calls(emulator.endpoint_url) if name in c[2]] == [
        ("dynamodb", "DescribeTable", f"table/{name}", 2),
        ("dynamodb", "Query", f"table/{name}/index/byOwner", 1),
        ("kinesis", "DescribeStreamSummary", f"stream/{name}", 1),
    ]


def test_the_calls_route_lists_and_forgets(emulator: EmbeddedEmulator, name: str) -> None:
    call(emulator, "dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": name})
    url = f"{emulator.endpoint_url}/_emulator/calls"
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE")) as response:
        forgotten = json.load(response)["calls"]
    assert ["dynamodb", "DescribeTable", f"table/{name}", 1] in forgotten
    assert java_calls(emulator.endpoint_url) == []
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"))
    assert refused.value.code == 405
    refused.value.close()
