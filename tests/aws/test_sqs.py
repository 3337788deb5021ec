"""SQS: a queue the bucket may send to, long-polled and acked in batches."""

from __future__ import annotations

import json

import pytest

from pipeline.aws.sqs import Queue, create_bucket_queue
from pipeline.core.errors import ResourceMissingError

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
