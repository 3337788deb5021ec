"""Publish alerts to an SNS topic once per rule, key and window, whatever replays or re-runs.

SNS (standard topics) does not deduplicate, and a FIFO topic only does within five minutes, so
the "sent" mark lives in DynamoDB, in the consumer's state table (``pk = "alert|<alert id>"``):

1. claim: a conditional put that succeeds only if the alert was never claimed, or if a claim is
   still ``pending`` after ``reclaim_after_s`` (an evaluator that died before publishing);
2. publish to SNS;
3. mark ``sent``.

A re-run, a replay of the same results or a second evaluator finds the claim and publishes
nothing. The one case that publishes twice is an evaluator dying between 2 and 3 and another
reclaiming after ``reclaim_after_s``: at least once, never zero times. Subscribers that must be
exact can deduplicate on the ``alert_id`` message attribute.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.alerts.evaluate import Alert
from pipeline.core.errors import PipelineError

log = logging.getLogger(__name__)

MARK_PREFIX = "alert|"
SUBJECT_LIMIT = 100  # SNS Subject: at most 100 printable ASCII characters


def topic_arn(sns: Any, topic: str) -> str:
    """The ARN of ``topic`` (an ARN, or a name: created if missing; CreateTopic is idempotent)."""
    if topic.startswith("arn:"):
        return topic
    try:
        return sns.create_topic(Name=topic)["TopicArn"]
    except (ClientError, BotoCoreError) as exc:
        raise PipelineError(f"cannot find or create the SNS topic {topic}: {exc}") from exc


@dataclass
class DeliveryReport:
    published: list[Alert] = field(default_factory=list)
    already_sent: int = 0


class AlertPublisher:
    """Claims, publishes and marks alerts (see the module docstring)."""

    def __init__(
        self,
        sns: Any,
        topic: str,
        dynamodb: Any,
        table: str,
        clock: Callable[[], float] = time.time,
        reclaim_after_s: float = 300.0,
    ) -> None:
        self.sns = sns
        self.topic = topic
        self.dynamodb = dynamodb
        self.table = table
        self.clock = clock
        self.reclaim_after_s = reclaim_after_s

    def deliver(self, alerts: Iterable[Alert]) -> DeliveryReport:
        report = DeliveryReport()
        for alert in alerts:
            if not self._claim(alert):
                report.already_sent += 1
                continue
            try:
                self._publish(alert)
            except PipelineError:
                self._release(alert)  # let the next run retry it at once
                raise
            self._mark_sent(alert)
            report.published.append(alert)
        return report

    def _key(self, alert: Alert) -> dict[str, Any]:
        return {"pk": {"S": MARK_PREFIX + alert.alert_id}}

    def _claim(self, alert: Alert) -> bool:
        now = self.clock()
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **self._key(alert),
                    "status": {"S": "pending"},
                    "claimed_at": {"N": repr(now)},
                },
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (#s = :pending AND claimed_at < :stale)"
                ),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":pending": {"S": "pending"},
                    ":stale": {"N": repr(now - self.reclaim_after_s)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise PipelineError(
                f"{self.table}: cannot claim alert {alert.alert_id}: {exc}"
            ) from exc
        except BotoCoreError as exc:
            raise PipelineError(
                f"{self.table}: cannot claim alert {alert.alert_id}: {exc}"
            ) from exc
        return True

    def _publish(self, alert: Alert) -> None:
        subject = alert.message.encode("ascii", "replace").decode("ascii")[:SUBJECT_LIMIT]
        try:
            self.sns.publish(
                TopicArn=self.topic,
                Subject=subject,
                Message=json.dumps(alert.as_dict(), default=str),
                MessageAttributes={
                    "alert_id": {"DataType": "String", "StringValue": alert.alert_id},
                    "rule": {"DataType": "String", "StringValue": alert.rule},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise PipelineError(f"cannot publish alert {alert.alert_id}: {exc}") from exc
        log.info("alert published", extra={"alert_id": alert.alert_id, "rule": alert.rule})

    def _release(self, alert: Alert) -> None:
        """Best effort: drop our pending claim (else it is reclaimed after reclaim_after_s)."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key=self._key(alert),
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":pending": {"S": "pending"}},
            )
        except (ClientError, BotoCoreError):
            log.warning("cannot release alert claim", extra={"alert_id": alert.alert_id})

    def _mark_sent(self, alert: Alert) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(alert),
                UpdateExpression="SET #s = :sent, sent_at = :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":sent": {"S": "sent"},
                    ":now": {"N": repr(self.clock())},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise PipelineError(
                f"{self.table}: cannot mark alert {alert.alert_id} sent: {exc}"
            ) from exc
