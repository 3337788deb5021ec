"""Shard lineage from Kinesis ListShards, for a child shard that adopts its parents' state.

Both engines need it: the KCL tells the record processor only its own shard id, and a child
must continue from its parents' final snapshots (dedupe memory, watermark).
"""

from __future__ import annotations

import threading

from pipeline.aws.kinesis import KinesisStream


class StreamParents:
    """:class:`~consumers.processor.ParentLookup` over one stream's ListShards.

    The shard list is cached and listed again only for a shard it does not know yet (a child
    created after the last listing): one ListShards per reshard, not one per lease.
    """

    def __init__(self, stream: KinesisStream) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._parents: dict[str, tuple[str, ...]] = {}

    def parents(self, shard_id: str) -> tuple[str, ...]:
        with self._lock:
            if shard_id not in self._parents:
                self._parents = {s.shard_id: s.parents for s in self._stream.shards()}
            return self._parents.get(shard_id, ())
