"""S3 through pyarrow (streamed, aws-chunked uploads), S3 event notifications to SQS and SNS to
SQS: what the reports' --to and --watch and the alerts rely on, through the server."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from pipeline.aws.clients import AwsClients
from pipeline.config import AwsConfig
from pipeline.emulator import flush_firehose

pytestmark = pytest.mark.emulator


@pytest.fixture
def arrow_s3(emulator) -> fs.S3FileSystem:
    return AwsClients(AwsConfig(endpoint_url=emulator.endpoint_url)).arrow_s3_filesystem()


def test_pyarrow_uploads_keep_their_bytes(client, name, arrow_s3):
    """The AWS SDK for C++ streams bodies chunked (aws-chunked with a checksum trailer)."""
    client("s3").create_bucket(Bucket=name)
    with arrow_s3.open_output_stream(f"{name}/small.bin") as out:
        out.write(b"hello world")
    big = pa.table({"n": pa.array(range(3_000_000), pa.int64())})  # > one 5 MiB part
    pq.write_table(big, f"{name}/big.parquet", filesystem=arrow_s3, compression="none")
    body = client("s3").get_object(Bucket=name, Key="small.bin")["Body"].read()
    assert body == b"hello world"
    assert pq.read_table(f"{name}/big.parquet", filesystem=arrow_s3).equals(big)


def test_object_created_events_reach_an_sqs_queue(client, name):
    s3, sqs = client("s3"), client("sqs")
    s3.create_bucket(Bucket=name)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=name, Key="t/dt=2026-01-01/hour=00/a b.parquet", Body=b"x")
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    ]
    records = [r for b in bodies for r in b.get("Records", [])]
    assert [b.get("Event") for b in bodies if "Event" in b] == ["s3:TestEvent"]
    # keys come URL-encoded (spaces as "+"): readers decode them with unquote_plus
    assert [(r["eventName"], unquote_plus(r["s3"]["object"]["key"])) for r in records] == [
        ("ObjectCreated:Put", "t/dt=2026-01-01/hour=00/a b.parquet")
    ]


def test_sns_delivers_to_a_subscribed_queue_with_attributes(client, name):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(
        TopicArn=topic,
        Subject="s",
        Message="m",
        MessageAttributes={"alert_id": {"DataType": "String", "StringValue": "a|b"}},
    )
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Message"] == "m"
    assert envelope["MessageAttributes"]["alert_id"]["Value"] == "a|b"


def test_firehose_deliveries_send_object_created_events(emulator, client, name):
    """The lake's objects come from Firehose: its deliveries notify like any PutObject."""
    s3, sqs, firehose = client("s3"), client("sqs"), client("firehose")
    s3.create_bucket(Bucket=name)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{name}",
            "Prefix": "t/dt=!{timestamp:yyyy-MM-dd}/",
        },
    )
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b'{"a":1}\n'}])
    assert flush_firehose(emulator.endpoint_url, name) == 1
    keys = [
        unquote_plus(r["s3"]["object"]["key"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        for r in json.loads(m["Body"]).get("Records", [])
    ]
    assert len(keys) == 1 and keys[0].startswith("t/dt=")
