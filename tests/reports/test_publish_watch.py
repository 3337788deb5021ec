"""The reporting bucket (--to) and refreshing on new lake data (--watch: S3 -> SQS events)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.aws.sqs import Queue
from pipeline.cli import main
from pipeline.emulator import set_faults
from pipeline.lake.layout import s3_deleter
from pipeline.reports.publish import publish
from pipeline.reports.watch import LakeEvents, ensure_notifications
from tests.reports.lake_run import START_MS, Lake, lake_config

pytestmark = [pytest.mark.emulator]


@pytest.fixture
def empty_web_lake(emulator) -> Lake:
    """A web lake's configuration on a fresh bucket, no data (written by the tests)."""
    lake = Lake(lake_config(emulator.endpoint_url, f"w{uuid.uuid4().hex[:10]}", "web"), None)
    lake.clients.s3.create_bucket(Bucket=lake.config.names.bucket)
    return lake


def _keys(lake: Lake, prefix: str) -> list[str]:
    s3 = lake.clients.s3
    listed = s3.list_objects_v2(Bucket=lake.config.names.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _land_windows(lake: Lake, seconds: int) -> None:
    """Window results landing in the lake (one object, as a Firehose delivery)."""
    table = lake.tables["result:web_second"]
    rows = [
        {
            "result_id": f"web_second|{START_MS + s * 1000}|",
            "job": "web_second",
            "window_start_ms": START_MS + s * 1000,
            "window_end_ms": START_MS + s * 1000 + 1000,
            "events": 3,
            "unique_users": 2,
            "shards": "a",
            "version": 1,
        }
        for s in range(seconds)
    ]
    key = f"{table.location}dt=2026-01-01/hour=00/delivery-{uuid.uuid4().hex}.parquet"
    pq.write_table(
        pa.Table.from_pylist(rows, schema=table.schema),
        f"{lake.config.names.bucket}/{key}",
        filesystem=lake.clients.arrow_s3_filesystem(),
    )


def test_publishing_the_same_period_again_replaces_its_result(empty_web_lake):
    lake = empty_web_lake
    filesystem = lake.clients.arrow_s3_filesystem()
    url = f"s3://{lake.config.names.bucket}/reporting"
    delete = s3_deleter(lake.clients.s3)
    first = pa.table({"n": [1, 2]})
    publish(first, filesystem, url, "r", "2026-01-01", delete)
    stale = f"{lake.config.names.bucket}/reporting/r/report_date=2026-01-01/stale.parquet"
    filesystem.open_output_stream(stale).close()
    path = publish(pa.table({"n": [3]}), filesystem, url, "r", "2026-01-01", delete)
    publish(first, filesystem, url, "r", "2026-01-02", delete)
    assert path == f"{url}/r/report_date=2026-01-01/part-00000.parquet"
    assert _keys(lake, "reporting/") == [
        "reporting/r/report_date=2026-01-01/part-00000.parquet",
        "reporting/r/report_date=2026-01-02/part-00000.parquet",
    ]
    assert pq.read_table(path[len("s3://") :], filesystem=filesystem).to_pylist() == [{"n": 3}]


def test_report_to_the_reporting_bucket_is_idempotent(emulator, web_lake):
    bucket = f"reporting-{uuid.uuid4().hex[:10]}"
    web_lake.clients.s3.create_bucket(Bucket=bucket)
    args = ["--endpoint-url", emulator.endpoint_url, "report", "unique_users"]
    args += ["--since", "2026-01-01", "--to", f"s3://{bucket}/daily/", "--format", "json"]
    for _ in range(2):
        result = CliRunner().invoke(main, args, env=web_lake.env())
        assert result.exit_code == 0, result.output
    listed = web_lake.clients.s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [
        "daily/unique_users/report_date=2026-01-01/part-00000.parquet"
    ]
    stored = pq.read_table(
        f"{bucket}/{listed[0]['Key']}", filesystem=web_lake.clients.arrow_s3_filesystem()
    )
    printed = json.loads(result.stdout)["rows"]
    assert stored.num_rows == len(printed) == 20
    assert stored.column("unique_users").to_pylist() == [r["unique_users"] for r in printed]


def test_new_lake_objects_arrive_as_table_changes_and_are_acknowledged(empty_web_lake):
    lake = empty_web_lake
    names = lake.config.names
    sqs, s3 = lake.clients.client("sqs"), lake.clients.s3
    queue = ensure_notifications(sqs, s3, names.bucket, names.lake_events_queue)
    assert queue == ensure_notifications(sqs, s3, names.bucket, names.lake_events_queue)
    notifications = s3.get_bucket_notification_configuration(Bucket=names.bucket)
    assert len(notifications["QueueConfigurations"]) == 1  # idempotent
    tables = {t.name for t in lake.tables.values()}
    events = LakeEvents(Queue(sqs, queue), names.bucket, tables, quiet_s=0.3, wait_s=1)

    _land_windows(lake, 2)
    for key in ("_errors/x/y.json", "events_web/dt=2026-01-01/hour=00/compacted-1-000.parquet"):
        s3.put_object(Bucket=names.bucket, Key=key, Body=b"changes no report")
    s3.put_object(Bucket=names.bucket, Key="dead_letters/dt=2026-01-01/hour=00/x.parquet", Body=b"")
    changes = next(events.changes(threading.Event()))
    assert changes.tables == {"window_web_second", "dead_letters"}
    events.ack(changes)
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []) == []


def _queued(sqs, queue: str) -> int:
    """Messages in the queue, visible or not (deleted ones are gone)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_events_stay_invisible_while_a_refresh_runs_and_failed_deletes_are_retried(
    emulator, empty_web_lake
):
    """The queue's visibility timeout is 1 s; a refresh lasts 3 s: the events are not delivered
    again meanwhile (the watcher extends them every 2/3 s), and the ack deletes them all although
    SQS fails half of the deletes."""
    lake = empty_web_lake
    names = lake.config.names
    sqs, s3 = lake.clients.client("sqs"), lake.clients.s3
    queue = ensure_notifications(sqs, s3, names.bucket, names.lake_events_queue)
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "1"})
    tables = {t.name for t in lake.tables.values()}
    _land_windows(lake, 2)
    _land_windows(lake, 3)
    with LakeEvents(
        Queue(sqs, queue), names.bucket, tables, quiet_s=0.3, wait_s=1, visibility_s=2
    ) as events:
        changes = next(events.changes(threading.Event()))
        assert changes.tables == {"window_web_second"}
        refresh_ends = time.monotonic() + 3.0  # the refresh runs; another reader polls
        while time.monotonic() < refresh_ends:
            assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages") is None
        rule = {"service": "sqs", "operation": "DeleteMessageBatch", "kind": "partial", "rate": 0.5}
        set_faults(emulator.endpoint_url, {"seed": 3, "rules": [rule]})
        try:
            events.ack(changes)
        finally:
            injected = set_faults(emulator.endpoint_url, None)
    assert injected["sqs.DeleteMessageBatch.partial"] > 0
    assert _queued(sqs, queue) == 0


def test_report_watch_refreshes_when_data_lands(emulator, empty_web_lake):
    lake = empty_web_lake
    names = lake.config.names
    ensure_notifications(
        lake.clients.client("sqs"), lake.clients.s3, names.bucket, names.lake_events_queue
    )
    args = ["--endpoint-url", emulator.endpoint_url, "report", "unique_users", "--watch"]
    args += ["--max-refreshes", "1", "--quiet-seconds", "0.5", "--format", "json"]
    outcome = {}

    def watch() -> None:
        outcome["result"] = CliRunner().invoke(main, args, env=lake.env())

    thread = threading.Thread(target=watch)
    thread.start()
    _land_windows(lake, 4)  # the queue keeps the event until the watcher reads it
    thread.join(timeout=120)
    result = outcome["result"]
    assert result.exit_code == 0, result.output
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["report"] for r in runs] == ["unique_users", "unique_users"]
    assert len(runs[1]["rows"]) == 4  # the first run raced the delivery; the refresh saw it
    assert "refreshed after new data in ['window_web_second']" in result.output
