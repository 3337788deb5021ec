"""State snapshots in S3: keyed by checkpoint, missing ones are None, old ones pruned."""

from __future__ import annotations

import pytest

from pipeline.aws.state import SnapshotStore
from pipeline.core.errors import ResourceMissingError, SinkError
from pipeline.core.records import Checkpoint

pytestmark = pytest.mark.emulator


def test_snapshots_are_keyed_by_checkpoint_and_pruned(provisioned):
    config, clients = provisioned
    store = SnapshotStore(clients.s3, config.names.state_bucket, "app")
    store.save("shard-1", Checkpoint("9"), b"nine")
    store.save("shard-1", Checkpoint("10"), b"ten")
    assert store.load("shard-1", Checkpoint("9")) == b"nine"
    assert store.load("shard-1", Checkpoint("11")) is None
    store.prune("shard-1", Checkpoint("10"))
    assert store.load("shard-1", Checkpoint("9")) is None
    assert store.load("shard-1", Checkpoint("10")) == b"ten"


def test_a_snapshot_that_cannot_be_saved_is_a_sink_error_naming_the_object(provisioned, name):
    _, clients = provisioned
    store = SnapshotStore(clients.s3, name, "app")
    with pytest.raises(SinkError) as failed:
        store.save("shard-1", Checkpoint("9"), b"nine")
    assert isinstance(failed.value.__cause__, ResourceMissingError)
    assert str(failed.value).startswith(
        f"cannot save the state of shard-1 at 9: S3 object s3://{name}/app/shard-1/"
    )
    assert "does not exist (PutObject: NoSuchBucket: " in str(failed.value)
