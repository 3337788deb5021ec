"""SNS: topics found or created by name, and messages published to them within SNS's limits."""

from __future__ import annotations

from typing import Any

from pipeline.aws.errors import aws_errors

SUBJECT_LIMIT = 100  # Subject: at most 100 printable ASCII characters


def create_topic(client: Any, name: str) -> str:
    """The ARN of topic ``name``, created if missing (CreateTopic is idempotent)."""
    with aws_errors("CreateTopic", f"SNS topic {name!r}"):
        return client.create_topic(Name=name)["TopicArn"]


def publish(
    client: Any, topic_arn: str, subject: str, message: str, attributes: dict[str, str]
) -> None:
    """Publish ``message`` with string ``attributes``; the subject is cut to what SNS takes."""
    with aws_errors("Publish", f"SNS topic {topic_arn}"):
        client.publish(
            TopicArn=topic_arn,
            Subject=subject.encode("ascii", "replace").decode("ascii")[:SUBJECT_LIMIT],
            Message=message,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )
