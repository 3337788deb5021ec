"""KPL-compatible aggregation: user records packed per shard into aggregated Kinesis records.

All user records of one aggregate must belong to the same shard (the aggregate is routed as a
whole), so records are collected per shard and an aggregate is cut when the next record of its
shard would take it past the size limit. The aggregate is routed by its first record's hash key
(explicitly, as the KPL does) and keeps its members, so that the ground truth lists every user
record. Aggregates are emitted in the order they complete, which keeps each shard's records in
send order.
"""

from __future__ import annotations

import numpy as np

from pipeline.core.kpl import encode_aggregate
from producers.block import NO_TIME, Block
from producers.shards import ShardMap, hash_key

#: Kinesis's 1 MiB record limit minus room for the partition key.
MAX_AGGREGATE_BYTES = 1024 * 1024 - 512
#: Per user record, at most: protobuf tags, lengths and indexes.
_OVERHEAD = 20
#: The aggregate's magic, digest and explicit hash keys.
_FIXED = 256


class Aggregator:
    """Collects stamped blocks (see :class:`producers.batching.StreamClock`) into aggregates."""

    def __init__(self, shard_map: ShardMap, max_bytes: int = MAX_AGGREGATE_BYTES) -> None:
        self.shard_map = shard_map
        self.max_bytes = max_bytes
        self._open: dict[int, Block] = {}
        self._sizes: dict[int, int] = {}

    def add(self, block: Block) -> Block:
        """Collect ``block``; returns the aggregates it completed (perhaps none)."""
        if block.floor is None or block.top is None:
            raise ValueError("blocks are stamped before they are aggregated")
        shards = self.shard_map.indices(block.keys, block.hash_keys)
        sizes = block.sizes() + _OVERHEAD  # a key may be new to the aggregate's table
        by_shard = np.argsort(shards, kind="stable")
        bounds = np.flatnonzero(np.diff(shards[by_shard])) + 1
        done: list[tuple[int, Block]] = []  # (position that completed it, members)
        for rows in np.split(by_shard, bounds) if len(block) else []:
            shard = int(shards[rows[0]])
            cumulative = np.cumsum(sizes[rows])
            before = 0  # bytes of this shard's rows already placed
            i = 0
            while i < len(rows):
                used = self._sizes.get(shard, _FIXED)
                fit = int(np.searchsorted(cumulative, self.max_bytes - used + before, "right")) - i
                if fit >= len(rows) - i:  # all the rest fits: the aggregate stays open
                    self._keep(shard, block.take(rows[i:]), used + int(cumulative[-1]) - before)
                    break
                if fit == 0 and shard not in self._open:  # too big for any company: alone
                    fit = 1
                members = block.take(rows[i : i + fit])
                if shard in self._open:
                    members = Block.concat([self._open.pop(shard), members])
                    self._sizes.pop(shard)
                done.append((int(rows[min(i + fit, len(rows) - 1)]), members))
                before = int(cumulative[i + fit - 1]) if fit else before
                i += fit
        done.sort(key=lambda item: item[0])
        return self._aggregates([members for _, members in done])

    def drain(self) -> Block:
        """The aggregates of everything still collected."""
        members = [self._open[shard] for shard in sorted(self._open)]
        self._open.clear()
        self._sizes.clear()
        return self._aggregates(members)

    def _keep(self, shard: int, records: Block, size: int) -> None:
        if shard in self._open:
            records = Block.concat([self._open[shard], records])
        self._open[shard] = records
        self._sizes[shard] = size

    def _aggregates(self, groups: list[Block]) -> Block:
        data, keys, hash_keys, labels = [], [], [], {}
        for row, members in enumerate(groups):
            data.append(encode_aggregate(members.keys, members.data, members.hash_keys))
            first = members.keys[0]
            keys.append(first)
            explicit = members.hash_keys[0] if members.hash_keys is not None else None
            hash_keys.append(explicit or str(hash_key(first)))
            labels[row] = {"aggregate": len(members)}
            if any(label.get("late") for label in members.labels.values()):
                labels[row]["late"] = True
        return Block(
            data,
            keys,
            np.full(len(groups), NO_TIME, np.int64),
            labels,
            hash_keys,
            members=groups,
            floor=np.array([m.floor.min() for m in groups if m.floor is not None], np.int64),
            top=np.array([m.top.max() for m in groups if m.top is not None], np.int64),
        )
