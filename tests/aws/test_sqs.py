"""SQS: a queue the bucket may send to, long-polled and acked in batches."""

from __future__ import annotations

import json

import pytest

from pipeline.aws.retry import Backoff
from pipeline.aws.sqs import Queue, create_bucket_queue
from pipeline.core.errors import AwsError, ResourceMissingError
from pipeline.emulator import set_faults

pytestmark = pytest.mark.emulator


def test_a_bucket_queue_allows_the_bucket_and_receives_and_deletes(client, name):
    sqs = client("sqs")
    url, arn = create_bucket_queue(sqs, name, "the-bucket")
    assert create_bucket_queue(sqs, name, "the-bucket") == (url, arn)  # idempotent
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    (statement,) = policy["Statement"]
    assert statement["Condition"] == {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::the-bucket"}}
    for i in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    queue = Queue(sqs, url)
    received = []
    while batch := queue.receive(wait_s=0):
        received += batch
        queue.delete([m["ReceiptHandle"] for m in batch])
    assert sorted(int(m["Body"]) for m in received) == list(range(12))


def test_a_missing_queue_is_named(client, name):
    sqs = client("sqs")
    url, _ = create_bucket_queue(sqs, name, "b")
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ResourceMissingError, match=rf"SQS queue {url} does not exist"):
        Queue(sqs, url).receive(wait_s=0)


def test_deletes_sqs_failed_are_retried_and_stale_handles_given_up(emulator, client, name):
    sqs = client("sqs")
    url, _ = create_bucket_queue(sqs, name, "b")
    for i in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    queue = Queue(sqs, url, backoff=Backoff(base_s=0.0, sleep=lambda _: None))
    received = []
    while batch := queue.receive(wait_s=0, visibility_s=30):
        received += batch
    assert len(received) == 25
    rule = {"service": "sqs", "operation": "DeleteMessageBatch", "kind": "partial", "rate": 0.4}
    set_faults(emulator.endpoint_url, {"seed": 1, "rules": [rule]})
    try:
        queue.delete([m["ReceiptHandle"] for m in received] + ["not-a-handle"])
    finally:
        injected = set_faults(emulator.endpoint_url, None)
    assert injected["sqs.DeleteMessageBatch.partial"] > 0
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_deletes_still_failing_after_the_retries_are_an_error(emulator, client, name):
    sqs = client("sqs")
    url, _ = create_bucket_queue(sqs, name, "b")
    sqs.send_message(QueueUrl=url, MessageBody="x")
    queue = Queue(sqs, url, backoff=Backoff(base_s=0.0, max_attempts=3, sleep=lambda _: None))
    (message,) = queue.receive(wait_s=0)
    rule = {"service": "sqs", "operation": "DeleteMessageBatch", "kind": "partial", "rate": 1.0}
    set_faults(emulator.endpoint_url, {"seed": 1, "rules": [rule]})
    try:
        with pytest.raises(AwsError) as failed:
            queue.delete([message["ReceiptHandle"]])
    finally:
        injected = set_faults(emulator.endpoint_url, None)
    assert injected == {"sqs.DeleteMessageBatch.partial": 3}
    assert str(failed.value) == (
        f"DeleteMessageBatch on SQS queue {url} failed for 1 messages after 3 attempts"
    )


def test_visibility_is_extended_from_now(client, name):
    sqs = client("sqs")
    url, _ = create_bucket_queue(sqs, name, "b")
    sqs.send_message(QueueUrl=url, MessageBody="x")
    queue = Queue(sqs, url)
    (message,) = queue.receive(wait_s=0, visibility_s=0)
    queue.extend([message["ReceiptHandle"]], 30)
    assert queue.receive(wait_s=0) == []  # invisible for 30 s again
