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

Claims expire (the table's TTL on ``expires_at``) once nothing can bring their window's result
back: after the results' retention or the stream's, whichever is longer
(:func:`claim_lifetime_s`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.alerts.evaluate import Alert
from pipeline.aws.dynamodb import AlertMarks
from pipeline.aws.sns import create_topic, publish
from pipeline.config import Config
from pipeline.core.errors import PipelineError

log = logging.getLogger(__name__)


def claim_lifetime_s(config: Config) -> int:
    """How long an alert's claim is kept: as long as its result (``results.retention``) or the
    records it was computed from (``stream.retention_hours``: a replay recomputes it)."""
    return max(config.results.retention_s, config.stream.retention_hours * 3600)


def topic_arn(sns: Any, topic: str) -> str:
    """The ARN of ``topic``: an ARN, or a name (the topic is created if missing)."""
    return topic if topic.startswith("arn:") else create_topic(sns, topic)


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
        keep_s: int | None = None,
    ) -> None:
        self.sns = sns
        self.topic = topic
        self.marks = AlertMarks(dynamodb, table, keep_s)
        self.clock = clock
        self.reclaim_after_s = reclaim_after_s

    def deliver(self, alerts: Iterable[Alert]) -> DeliveryReport:
        report = DeliveryReport()
        for alert in alerts:
            now = self.clock()
            if not self.marks.claim(alert.alert_id, now, now - self.reclaim_after_s):
                report.already_sent += 1
                continue
            try:
                self._publish(alert)
            except PipelineError:
                self._release(alert)  # let the next run retry it at once
                raise
            self.marks.mark_sent(alert.alert_id, self.clock())
            report.published.append(alert)
        return report

    def _publish(self, alert: Alert) -> None:
        publish(
            self.sns,
            self.topic,
            alert.message,
            json.dumps(alert.as_dict(), default=str),
            {"alert_id": alert.alert_id, "rule": alert.rule},
        )
        log.info("alert published", extra={"alert_id": alert.alert_id, "rule": alert.rule})

    def _release(self, alert: Alert) -> None:
        """Best effort: drop our pending claim (else it is reclaimed after reclaim_after_s)."""
        try:
            self.marks.release(alert.alert_id)
        except PipelineError:
            log.warning("cannot release alert claim", extra={"alert_id": alert.alert_id})
