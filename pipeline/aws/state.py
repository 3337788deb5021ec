"""Consumer state snapshots in S3, one object per shard and checkpoint.

A checkpoint at position P promises that the state after P (open windows, dedupe memory,
newest event time) is stored: the snapshot is written *before* the checkpoint and keyed by P, so
``initialize`` at P loads exactly the state of P, even if a later snapshot was written and its
checkpoint never happened. Older snapshots are pruned only after a newer checkpoint succeeded.
Snapshots live in S3 because dedupe memory outgrows DynamoDB's 400 KB items.

A shard that ends (resharding) leaves one *final* snapshot, ``final.snapshot``, written before
its SHARD_END checkpoint: its children adopt it. It sorts after every checkpoint's key, so pruning
never removes it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipeline.aws.errors import aws_errors, error_code, sink_errors
from pipeline.aws.s3 import bucket_resource, delete_keys
from pipeline.core.errors import PipelineError
from pipeline.core.records import Checkpoint


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

    def final_key(self, shard_id: str) -> str:
        return f"{self.application}/{shard_id}/final.snapshot"

    def save(self, shard_id: str, checkpoint: Checkpoint, blob: bytes) -> None:
        self._put(self.key(shard_id, checkpoint), blob, f"{shard_id} at {checkpoint}")

    def load(self, shard_id: str, checkpoint: Checkpoint) -> bytes | None:
        return self._get(self.key(shard_id, checkpoint), f"{shard_id} at {checkpoint}")

    def save_final(self, shard_id: str, blob: bytes) -> None:
        """The ended shard's last state, for its children (written before SHARD_END)."""
        self._put(self.final_key(shard_id), blob, f"{shard_id} at its end")

    def load_final(self, shard_id: str) -> bytes | None:
        return self._get(self.final_key(shard_id), f"{shard_id} at its end")

    def _object(self, key: str) -> str:
        return f"S3 object s3://{self.bucket}/{key}"

    def _put(self, key: str, blob: bytes, what: str) -> None:
        with sink_errors(f"cannot save the state of {what}", "PutObject", self._object(key)):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=blob)

    def _get(self, key: str, what: str) -> bytes | None:
        with sink_errors(f"cannot load the state of {what}", "GetObject", self._object(key)):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if error_code(exc) in ("NoSuchKey", "404"):
                    return None
                raise

    def prune(self, shard_id: str, keep: Checkpoint) -> None:
        """Delete the shard's snapshots older than ``keep`` (best effort: they are only garbage)."""
        keep_key = self.key(shard_id, keep)
        prefix = f"{self.application}/{shard_id}/"
        try:
            with aws_errors("ListObjectsV2", bucket_resource(self.bucket)):
                paginator = self.client.get_paginator("list_objects_v2")
                old = [
                    obj["Key"]
                    for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                    for obj in page.get("Contents", [])
                    if obj["Key"] < keep_key
                ]
            delete_keys(self.client, self.bucket, old)
        except PipelineError:
            return
