"""Refresh reports as lake data lands: S3 event notifications -> an SQS queue -> the reports.

As in the seed's ingestion pipeline ("Amazon S3 can trigger notifications to SQS"): every object
Firehose (or compaction) writes to the lake bucket sends an ``s3:ObjectCreated:*`` event to the
queue. :class:`LakeEvents` long-polls the queue (no S3 listing is polled), gathers the events that
arrive together (until ``quiet_s`` passes without a new one), and hands over the lake tables they
touched; the caller refreshes the reports that read those tables and only then acknowledges the
messages, so a refresh that fails is retried when the messages become visible again. Until then
the messages are kept invisible (used as a context manager, a thread extends their visibility
every third of ``visibility_s``): a slow refresh (Athena) would otherwise outlast the queue's
visibility timeout and see its messages delivered again, and its deletes fail.

:func:`ensure_notifications` creates the queue (allowing the bucket to send to it) and adds the
bucket's notification to it, keeping any other notification of the bucket: idempotent.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from pipeline.aws.s3 import notify_queue
from pipeline.aws.sqs import MAX_WAIT_S, Queue, create_bucket_queue
from pipeline.core.errors import PipelineError

log = logging.getLogger(__name__)

#: Objects whose arrival changes no report: compaction's rewrites (the views read the same
#: rows), Firehose's error output, Athena's query results
_IGNORED_BASENAMES = ("compacted-",)
_IGNORED_PREFIXES = ("_",)


def notification_id(queue: str) -> str:
    return f"kpipe-lake-to-{queue}"


def ensure_notifications(sqs: Any, s3: Any, bucket: str, queue: str) -> str:
    """Create ``queue`` and notify it of every object created in ``bucket``; returns its URL."""
    url, arn = create_bucket_queue(sqs, queue, bucket)
    notify_queue(s3, bucket, notification_id(queue), arn)
    return url


def tables_in(body: str, bucket: str, tables: set[str]) -> set[str]:
    """The lake tables an S3 event message (the body S3 sends to SQS) wrote to."""
    try:
        message = json.loads(body)
    except ValueError:
        log.warning("not an S3 event message", extra={"body": body[:200]})
        return set()
    touched = set()
    for record in message.get("Records", []) if isinstance(message, dict) else []:
        s3 = record.get("s3", {})
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        if s3.get("bucket", {}).get("name") != bucket:
            continue
        key = unquote_plus(s3.get("object", {}).get("key", ""))
        table, _, rest = key.partition("/")
        basename = rest.rsplit("/", 1)[-1]
        if table in tables and not basename.startswith(_IGNORED_BASENAMES + _IGNORED_PREFIXES):
            touched.add(table)
    return touched


@dataclass
class Changes:
    """Tables written to since the last refresh, and the messages that said so."""

    tables: set[str] = field(default_factory=set)
    receipts: list[str] = field(default_factory=list)


class LakeEvents:
    """Long-polls the queue and groups the lake's S3 events into :class:`Changes`; as a context
    manager, keeps the messages received and not yet acked invisible."""

    def __init__(
        self,
        queue: Queue,
        bucket: str,
        tables: set[str],
        quiet_s: float = 2.0,
        wait_s: int = MAX_WAIT_S,
        max_delay_s: float = 30.0,
        visibility_s: int = 60,
    ) -> None:
        self.queue = queue
        self.bucket = bucket
        self.tables = tables
        self.quiet_s = quiet_s
        self.wait_s = wait_s
        self.max_delay_s = max_delay_s
        self.visibility_s = visibility_s
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name="lake-events-keeper", daemon=True)

    def __enter__(self) -> LakeEvents:
        self._keeper.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._keeper.join()

    def _keep(self) -> None:
        """Every third of ``visibility_s``: the held messages invisible ``visibility_s`` more."""
        while not self._stopped.wait(self.visibility_s / 3):
            with self._lock:
                held = sorted(self._held)
            if not held:
                continue
            try:
                self.queue.extend(held, self.visibility_s)
            except PipelineError as exc:  # the next round tries again; at worst, a re-refresh
                log.warning(
                    "cannot extend the visibility of lake events", extra={"error": str(exc)}
                )

    def changes(self, stop: threading.Event) -> Iterator[Changes]:
        """Yields each group of changes (until ``stop`` is set); ack each before the next.

        A group ends when no new event came for ``quiet_s``, or ``max_delay_s`` after its first
        event (a steady trickle of deliveries still refreshes the reports).
        """
        pending = Changes()
        first_message = last_message = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if pending.tables and (
                now - last_message >= self.quiet_s or now - first_message >= self.max_delay_s
            ):
                yield pending
                pending = Changes()
                continue
            wait = self.quiet_s if pending.tables else self.wait_s
            messages = self.queue.receive(wait, self.visibility_s)
            with self._lock:
                self._held.update(message["ReceiptHandle"] for message in messages)
            for message in messages:
                pending.receipts.append(message["ReceiptHandle"])
                touched = tables_in(message.get("Body", ""), self.bucket, self.tables)
                if touched:
                    if not pending.tables:
                        first_message = time.monotonic()
                    pending.tables |= touched
                    last_message = time.monotonic()
            if pending.receipts and not pending.tables:
                self.ack(pending)  # only test events and ignored objects: nothing to refresh
                pending = Changes()

    def ack(self, changes: Changes) -> None:
        """Delete the messages of ``changes`` (after the refresh they asked for succeeded)."""
        self.queue.delete(changes.receipts)
        with self._lock:
            self._held.difference_update(changes.receipts)
