"""Consumer state snapshots in S3, one object per shard and checkpoint.

A checkpoint at position P promises that the state after P (open windows, dedupe memory,
newest event time) is stored: the snapshot is written *before* the checkpoint and keyed by P, so
``initialize`` at P loads exactly the state of P, even if a later snapshot was written and its
checkpoint never happened. Older snapshots are pruned only after a newer checkpoint succeeded.
Snapshots live in S3 because dedupe memory outgrows DynamoDB's 400 KB items.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import SinkError
from pipeline.records import Checkpoint


class SnapshotStore:
    """``s3://<bucket>/<application>/<shard>/<sequence>-<sub>.snapshot``"""

    def __init__(self, client: Any, bucket: str, application: str) -> None:
        self.client = client
        self.bucket = bucket
        self.application = application

    def key(self, shard_id: str, checkpoint: Checkpoint) -> str:
        sequence, sub = checkpoint.key
        # zero-padded so that keys sort in sequence order
        return f"{self.application}/{shard_id}/{sequence:040d}-{sub:010d}.snapshot"

    def save(self, shard_id: str, checkpoint: Checkpoint, blob: bytes) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(shard_id, checkpoint), Body=blob
            )
        except (ClientError, BotoCoreError) as exc:
            raise SinkError(f"cannot save the state of {shard_id} at {checkpoint}: {exc}") from exc

    def load(self, shard_id: str, checkpoint: Checkpoint) -> bytes | None:
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.key(shard_id, checkpoint)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise SinkError(f"cannot load the state of {shard_id} at {checkpoint}: {exc}") from exc
        except BotoCoreError as exc:
            raise SinkError(f"cannot load the state of {shard_id} at {checkpoint}: {exc}") from exc
        return response["Body"].read()

    def prune(self, shard_id: str, keep: Checkpoint) -> None:
        """Delete the shard's snapshots older than ``keep`` (best effort: they are only garbage)."""
        keep_key = self.key(shard_id, keep)
        prefix = f"{self.application}/{shard_id}/"
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            old = [
                {"Key": obj["Key"]}
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                for obj in page.get("Contents", [])
                if obj["Key"] < keep_key
            ]
            for start in range(0, len(old), 1000):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": old[start : start + 1000]}
                )
        except (ClientError, BotoCoreError):
            return
