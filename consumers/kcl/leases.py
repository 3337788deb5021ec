"""When a bounded input is consumed, across every KCL worker, according to the lease table.

The lease table itself (reading, pre-seeding) is :mod:`pipeline.aws.leases`.
"""

from __future__ import annotations

from consumers.lifecycle import SHARD_END
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.leases import LeaseTable
from pipeline.core.shard import END_OF_STREAM


class EndOfStreamWatch:
    """Whether every shard is consumed to its end, according to the lease table.

    A shard is done when its checkpoint is SHARD_END, or when the record at its checkpoint is
    the producer's end-of-stream marker (the marker is a shard's last record; the processor
    checkpoints as soon as it has processed it). Works across any number of workers.
    """

    def __init__(self, stream: KinesisStream, leases: LeaseTable) -> None:
        self.stream = stream
        self.leases = leases
        self._markers: dict[tuple[str, str], bool] = {}

    def done(self) -> bool:
        by_shard = {lease.shard_id: lease for lease in self.leases.leases()}
        shards = self.stream.shards()
        if not shards:
            return False
        for shard in shards:
            lease = by_shard.get(shard.shard_id)
            if lease is None or not (
                lease.checkpoint == SHARD_END or self._at_marker(shard.shard_id, lease.checkpoint)
            ):
                return False
        return True

    def _at_marker(self, shard_id: str, checkpoint: str) -> bool:
        if not checkpoint.isdigit():  # TRIM_HORIZON, LATEST, ...
            return False
        key = (shard_id, checkpoint)
        if key not in self._markers:
            self._markers[key] = self.stream.record_at(shard_id, checkpoint) == END_OF_STREAM
        return self._markers[key]
