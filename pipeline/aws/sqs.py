"""SQS: the queue that receives the lake bucket's event notifications, long-polled and acked.

A batch call can fail for some of its entries only (``Failed``): deletes that failed on SQS's
side are retried with backoff; an entry SQS refuses as the sender's fault (a receipt handle no
longer valid: the message was delivered again) is given up, logged (its message comes back and
asks for one more refresh, which is harmless).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.aws.errors import aws_errors
from pipeline.aws.retry import Backoff
from pipeline.core.errors import AwsError

log = logging.getLogger(__name__)

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

    def __init__(self, client: Any, url: str, backoff: Backoff | None = None) -> None:
        self.client = client
        self.url = url
        self.resource = f"SQS queue {url}"
        self.backoff = backoff or Backoff(max_attempts=6)

    def receive(self, wait_s: float, visibility_s: int | None = None) -> list[dict[str, Any]]:
        """Up to :data:`MAX_MESSAGES` messages, waiting up to ``wait_s`` (at most 20 s) for one,
        invisible to others for ``visibility_s`` (default: the queue's visibility timeout)."""
        kwargs = {} if visibility_s is None else {"VisibilityTimeout": visibility_s}
        with aws_errors("ReceiveMessage", self.resource):
            response = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=MAX_MESSAGES,
                WaitTimeSeconds=max(0, min(MAX_WAIT_S, round(wait_s))),
                **kwargs,
            )
        return response.get("Messages", [])

    def delete(self, receipts: list[str]) -> None:
        """Delete the messages received with ``receipts`` (batched, failed entries retried)."""

        def call(entries: list[dict[str, str]]) -> dict[str, Any]:
            with aws_errors("DeleteMessageBatch", self.resource):
                return self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)

        self._batched("DeleteMessageBatch", receipts, {}, call)

    def extend(self, receipts: list[str], visibility_s: int) -> None:
        """Keep the messages of ``receipts`` invisible ``visibility_s`` more seconds (from now)."""

        def call(entries: list[dict[str, Any]]) -> dict[str, Any]:
            with aws_errors("ChangeMessageVisibilityBatch", self.resource):
                return self.client.change_message_visibility_batch(
                    QueueUrl=self.url, Entries=entries
                )

        self._batched(
            "ChangeMessageVisibilityBatch", receipts, {"VisibilityTimeout": visibility_s}, call
        )

    def _batched(
        self,
        operation: str,
        receipts: list[str],
        fields: dict[str, Any],
        call: Callable[[list[dict[str, Any]]], dict[str, Any]],
    ) -> None:
        """``call`` on batches of ten receipts, retrying the entries that failed on SQS's side."""
        for chunk in _chunks(receipts):
            pending = {str(i): handle for i, handle in enumerate(chunk)}
            for attempt in range(1, self.backoff.max_attempts + 1):
                entries = [{"Id": i, "ReceiptHandle": h, **fields} for i, h in pending.items()]
                failed = call(entries).get("Failed", [])
                for entry in failed:
                    if entry.get("SenderFault"):  # not SQS's to retry: the handle is stale
                        log.warning(
                            "sqs entry refused",
                            extra={"operation": operation, "code": entry.get("Code")},
                        )
                pending = {e["Id"]: pending[e["Id"]] for e in failed if not e.get("SenderFault")}
                if not pending:
                    break
                self.backoff.pause(attempt)
            else:
                raise AwsError(
                    f"{operation} on {self.resource} failed for {len(pending)} messages after "
                    f"{self.backoff.max_attempts} attempts",
                    "Failed",
                    operation,
                    self.resource,
                )


def _chunks(receipts: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(receipts), MAX_MESSAGES):
        yield receipts[start : start + MAX_MESSAGES]
