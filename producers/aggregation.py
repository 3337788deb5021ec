"""KPL-compatible aggregation: user records packed per shard into aggregated Kinesis records.

All user records of one aggregate must belong to the same shard (the aggregate is routed as a
whole), so records are buffered per shard and an aggregate is cut when the next record would
take it past the size limit. The aggregate is routed by its first record's hash key, as the KPL
does. Each aggregate carries its members, so that the ground truth lists every user record.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.kpl import UserRecord, aggregate
from producers.chaos import Outgoing
from producers.shards import ShardMap, hash_key

#: Kinesis's 1 MiB record limit minus room for the partition key.
MAX_AGGREGATE_BYTES = 1024 * 1024 - 512
#: Per user record: protobuf tags, lengths and the index of its partition key.
_OVERHEAD = 16


class Aggregator:
    def __init__(self, shard_map: ShardMap, max_bytes: int = MAX_AGGREGATE_BYTES) -> None:
        self.shard_map = shard_map
        self.max_bytes = max_bytes
        self._open: dict[str, list[Outgoing]] = {}
        self._sizes: dict[str, int] = {}

    def add(self, record: Outgoing) -> Iterator[Outgoing]:
        """Buffer ``record``; yields the aggregate it completed, if any."""
        shard = self.shard_map.shard_of(record.partition_key, record.explicit_hash_key)
        size = len(record.data) + len(record.partition_key) + _OVERHEAD
        if self._open.get(shard) and self._sizes[shard] + size > self.max_bytes:
            yield self._cut(shard)
        self._open.setdefault(shard, []).append(record)
        self._sizes[shard] = self._sizes.get(shard, 64) + size

    def drain(self) -> Iterator[Outgoing]:
        for shard in list(self._open):
            if self._open[shard]:
                yield self._cut(shard)

    def _cut(self, shard: str) -> Outgoing:
        members = self._open.pop(shard)
        self._sizes.pop(shard)
        first = members[0]
        users = [UserRecord(m.partition_key, m.data, m.explicit_hash_key) for m in members]
        return Outgoing(
            first.partition_key,
            aggregate(users),
            {"aggregate": len(members)},
            first.explicit_hash_key or str(hash_key(first.partition_key)),
            tuple(members),
        )
