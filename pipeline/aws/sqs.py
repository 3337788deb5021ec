"""SQS: the queue that receives the lake bucket's event notifications, long-polled and acked."""

from __future__ import annotations

import json
from typing import Any

from pipeline.aws.errors import aws_errors

MAX_MESSAGES = 10  # ReceiveMessage's and DeleteMessageBatch's limit
MAX_WAIT_S = 20  # long polling's limit


def create_bucket_queue(client: Any, queue: str, bucket: str) -> tuple[str, str]:
    """Create ``queue`` (idempotent) and allow ``bucket`` to send it its event notifications;
    returns the queue's (URL, ARN)."""
    resource = f"SQS queue {queue!r}"
    with aws_errors("CreateQueue", resource):
        url = client.create_queue(QueueName=queue)["QueueUrl"]
    with aws_errors("GetQueueAttributes", resource):
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn = attributes["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LakeBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }
    with aws_errors("SetQueueAttributes", resource):
        client.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


class Queue:
    """One queue, by URL."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url
        self.resource = f"SQS queue {url}"

    def receive(self, wait_s: float) -> list[dict[str, Any]]:
        """Up to :data:`MAX_MESSAGES` messages, waiting up to ``wait_s`` (at most 20 s) for one."""
        with aws_errors("ReceiveMessage", self.resource):
            response = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=MAX_MESSAGES,
                WaitTimeSeconds=max(0, min(MAX_WAIT_S, round(wait_s))),
            )
        return response.get("Messages", [])

    def delete(self, receipts: list[str]) -> None:
        """Delete the messages received with ``receipts`` (batched)."""
        for start in range(0, len(receipts), MAX_MESSAGES):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle}
                for i, handle in enumerate(receipts[start : start + MAX_MESSAGES])
            ]
            with aws_errors("DeleteMessageBatch", self.resource):
                self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
