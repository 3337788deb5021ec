"""S3: HeadBucket of a missing bucket, deletes past DeleteObjects' 1,000 keys, and the lake's
notifications kept beside the bucket's others."""

from __future__ import annotations

import pytest

from pipeline.aws.s3 import delete_keys, head_bucket, notify_queue
from pipeline.aws.sqs import create_bucket_queue
from pipeline.core.errors import ResourceMissingError

pytestmark = pytest.mark.emulator


def test_head_bucket_of_a_missing_bucket_names_it(client, name):
    with pytest.raises(
        ResourceMissingError, match=rf"S3 bucket '{name}' does not exist \(HeadBucket"
    ):
        head_bucket(client("s3"), name)


def test_delete_keys_deletes_in_batches(client, name):
    s3 = client("s3")
    s3.create_bucket(Bucket=name)
    keys = [f"k/{i:04d}" for i in range(1_001)]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=b"")
    s3.put_object(Bucket=name, Key="kept", Body=b"")
    delete_keys(s3, name, keys)
    left = s3.list_objects_v2(Bucket=name)["Contents"]
    assert [o["Key"] for o in left] == ["kept"]


def test_notify_queue_is_idempotent_and_keeps_other_notifications(client, name):
    s3, sqs = client("s3"), client("sqs")
    s3.create_bucket(Bucket=name)
    _, other = create_bucket_queue(sqs, f"{name}-other", name)
    _, arn = create_bucket_queue(sqs, name, name)
    notify_queue(s3, name, "someone-elses", other)
    notify_queue(s3, name, "ours", arn)
    notify_queue(s3, name, "ours", arn)
    queues = s3.get_bucket_notification_configuration(Bucket=name)["QueueConfigurations"]
    assert sorted((q["Id"], q["QueueArn"]) for q in queues) == [
        ("ours", arn),
        ("someone-elses", other),
    ]
