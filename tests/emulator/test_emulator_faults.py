"""Fault injection: throttling, errors, partial batch failures, slow and lost responses."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from pipeline.emulator import fault_stats, flush_firehose, set_faults

pytestmark = pytest.mark.emulator


@pytest.fixture
def faults(emulator):
    yield lambda rules, seed=1: set_faults(emulator.endpoint_url, {"seed": seed, "rules": rules})
    set_faults(emulator.endpoint_url, None)


def no_retries(emulator, service, **config):
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
    )


def read_all(kinesis, stream):
    data = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        data += [
            r["Data"] for r in kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
        ]
    return data


def test_throttling_is_the_services_own_error_and_is_counted(emulator, client, name, faults):
    kinesis = no_retries(emulator, "kinesis")
    client("kinesis").create_stream(StreamName=name, ShardCount=1)
    faults(
        [
            {
                "service": "kinesis",
                "operation": "PutRecords",
                "kind": "throttle",
                "rate": 1.0,
                "limit": 2,
            }
        ]
    )
    for _ in range(2):
        with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
            kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}])
    kinesis.put_records(
        StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}]
    )  # limit reached
    assert fault_stats(emulator.endpoint_url) == {"kinesis.PutRecords.throttle": 2}
    assert read_all(kinesis, name) == [b"x"]


def test_partial_put_records_applies_only_the_entries_reported_successful(
    emulator, client, name, faults
):
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    faults([{"service": "kinesis", "operation": "PutRecords", "kind": "partial", "rate": 0.3}])
    records = [{"Data": f"r{i}".encode(), "PartitionKey": f"k{i}"} for i in range(200)]
    response = kinesis.put_records(StreamName=name, Records=records)
    failed = [
        r for r, result in zip(records, response["Records"], strict=True) if "ErrorCode" in result
    ]
    assert 20 < response["FailedRecordCount"] == len(failed) < 100
    assert {e["ErrorCode"] for e in response["Records"] if "ErrorCode" in e} == {
        "ProvisionedThroughputExceededException"
    }
    assert Counter(read_all(kinesis, name)) == Counter(
        r["Data"] for r in records if r not in failed
    )


def test_partial_put_record_batch_and_batch_write_item(emulator, client, name, faults):
    firehose, dynamodb, s3 = client("firehose"), client("dynamodb"), client("s3")
    s3.create_bucket(Bucket=name)
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/x",
            "BucketARN": f"arn:aws:s3:::{name}",
        },
    )
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    faults(
        [
            {"service": "firehose", "operation": "PutRecordBatch", "kind": "partial", "rate": 0.5},
            {"service": "dynamodb", "operation": "BatchWriteItem", "kind": "partial", "rate": 0.5},
        ]
    )
    response = firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"a"}] * 40)
    assert 0 < response["FailedPutCount"] < 40
    assert sum("ErrorCode" in r for r in response["RequestResponses"]) == response["FailedPutCount"]
    requests = [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(25)]
    unprocessed = dynamodb.batch_write_item(RequestItems={name: requests})["UnprocessedItems"].get(
        name, []
    )
    assert 0 < len(unprocessed) < 25
    flush_firehose(emulator.endpoint_url)  # leave no buffered records behind for other tests
    stored = {i["pk"]["S"] for i in dynamodb.scan(TableName=name)["Items"]}
    assert stored == {r["PutRequest"]["Item"]["pk"]["S"] for r in requests if r not in unprocessed}


def test_a_lost_response_was_applied_and_its_retry_duplicates_the_record(
    emulator, client, name, faults
):
    client("kinesis").create_stream(StreamName=name, ShardCount=1)
    kinesis = boto3.client(
        "kinesis",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(read_timeout=0.5, retries={"total_max_attempts": 2, "mode": "standard"}),
    )
    faults(
        [
            {
                "service": "kinesis",
                "operation": "PutRecords",
                "kind": "lost_response",
                "seconds": 1.5,
                "limit": 1,
            }
        ]
    )
    kinesis.put_records(
        StreamName=name, Records=[{"Data": b"once", "PartitionKey": "k"}]
    )  # retried after the timeout
    assert read_all(kinesis, name) == [b"once", b"once"]


def test_a_bad_plan_is_refused_with_its_reason(emulator, faults):
    with pytest.raises(ValueError, match="unknown fault kind 'explode'"):
        faults([{"service": "kinesis", "kind": "explode"}])
    with pytest.raises(ValueError, match="partial failures apply to"):
        faults([{"service": "kinesis", "operation": "ListShards", "kind": "partial"}])


def test_errors_are_retried_by_the_sdk(emulator, client, name, faults):
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    faults(
        [{"service": "dynamodb", "operation": "PutItem", "kind": "error", "rate": 1.0, "limit": 1}]
    )
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "a"}})
    assert fault_stats(emulator.endpoint_url) == {"dynamodb.PutItem.error": 1}
    assert json.loads(
        json.dumps(dynamodb.get_item(TableName=name, Key={"pk": {"S": "a"}})["Item"])
    ) == {"pk": {"S": "a"}}
    _ = ReadTimeoutError  # the lost-response test relies on botocore retrying read timeouts


def test_whole_call_faults_still_fire_beside_a_partial_rule(emulator, client, name, faults):
    client("kinesis").create_stream(StreamName=name, ShardCount=1)
    kinesis = no_retries(emulator, "kinesis")
    faults(
        [
            {"service": "kinesis", "operation": "PutRecords", "kind": "partial", "rate": 0.1},
            {"service": "kinesis", "operation": "PutRecords", "kind": "throttle", "rate": 0.5},
        ]
    )
    throttled = 0
    for _ in range(40):
        try:
            kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}] * 10)
        except ClientError:
            throttled += 1
    stats = fault_stats(emulator.endpoint_url)
    assert stats["kinesis.PutRecords.throttle"] == throttled > 5
    assert stats["kinesis.PutRecords.partial"] > 0
