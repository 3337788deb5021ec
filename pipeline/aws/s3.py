"""S3 calls besides the state snapshots (:mod:`pipeline.aws.state`) and dead letters' raw data
(:mod:`pipeline.aws.sinks`): whether a bucket exists, batched deletes, a bucket's copy (the
demo's output) and the lake bucket's event notifications.

(Lake reads and report files go through pyarrow's S3 filesystem,
:meth:`pipeline.aws.clients.AwsClients.arrow_s3_filesystem`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.aws.clients import AwsClients
from pipeline.aws.errors import aws_errors, classify

#: DeleteObjects' limit per call
MAX_DELETE_KEYS = 1000


def bucket_resource(bucket: str) -> str:
    return f"S3 bucket {bucket!r}"


def head_bucket(client: Any, bucket: str) -> None:
    """Check that ``bucket`` exists and is ours to use (ResourceMissingError if it does not)."""
    with aws_errors("HeadBucket", bucket_resource(bucket)):
        client.head_bucket(Bucket=bucket)


def listed_filesystem(clients: AwsClients, bucket: str) -> Any:
    """pyarrow's S3 filesystem for ``bucket``, once ``bucket`` was found and listed: pyarrow
    lists a missing bucket as empty, tries without credentials when there are none, and names no
    fix. ListObjectsV2 of one key, whose refusals carry S3's code (ExpiredToken,
    InvalidAccessKeyId) where HeadBucket's bare status cannot."""
    with aws_errors("ListObjectsV2", bucket_resource(bucket)):
        clients.s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    return clients.arrow_s3_filesystem()


def delete_keys(client: Any, bucket: str, keys: list[str]) -> None:
    """Delete ``keys`` of ``bucket`` (DeleteObjects, batched); raises on the first key refused."""
    for start in range(0, len(keys), MAX_DELETE_KEYS):
        chunk = keys[start : start + MAX_DELETE_KEYS]
        with aws_errors("DeleteObjects", bucket_resource(bucket)):
            response = client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise classify(
                first.get("Code", ""),
                first.get("Message", ""),
                "DeleteObjects",
                f"S3 object s3://{bucket}/{first.get('Key')}",
            )


def download_bucket(client: Any, bucket: str, target: Path) -> int:
    """Copy every object of ``bucket`` under ``target`` (same keys); returns how many."""
    count = 0
    with aws_errors("ListObjectsV2", bucket_resource(bucket)):
        pages = list(client.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    for page in pages:
        for obj in page.get("Contents", []):
            path = target / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            with aws_errors("GetObject", f"S3 object s3://{bucket}/{obj['Key']}"):
                path.write_bytes(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            count += 1
    return count


def notify_queue(client: Any, bucket: str, notification_id: str, queue_arn: str) -> None:
    """Send every ``s3:ObjectCreated:*`` event of ``bucket`` to the queue, under
    ``notification_id``, keeping the bucket's other notifications (idempotent)."""
    resource = bucket_resource(bucket)
    with aws_errors("GetBucketNotificationConfiguration", resource):
        current = client.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    queues = [q for q in current.get("QueueConfigurations", []) if q.get("Id") != notification_id]
    queues.append({"Id": notification_id, "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]})
    current["QueueConfigurations"] = queues
    with aws_errors("PutBucketNotificationConfiguration", resource):
        client.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=current
        )
