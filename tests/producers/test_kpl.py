"""The producer's KPL aggregates (the encoding itself is tested in tests/core/test_kpl.py)."""

from __future__ import annotations

from pipeline.aws.kinesis import ShardInfo
from pipeline.core.kpl import deaggregate
from pipeline.core.records import RawRecord
from producers.aggregation import Aggregator
from producers.batching import StreamClock
from producers.block import Block
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions, outgoing_blocks
from producers.shards import ShardMap


def test_aggregates_keep_each_shards_records_in_order_and_fit_a_kinesis_record():
    quarter = 2**128 // 4
    shard_map = ShardMap(
        [ShardInfo(f"s{i}", (), i * quarter, (i + 1) * quarter - 1, False) for i in range(4)]
    )
    options = ProduceOptions(devices=500, minutes=4, seed=3, chaos=ChaosOptions(malformed=0.01))
    clock, aggregator = StreamClock(), Aggregator(shard_map)
    sent: dict[str, list[bytes]] = {s.shard_id: [] for s in shard_map.shards}
    done = []
    for block in outgoing_blocks(options):
        for key, data in zip(block.keys, block.data, strict=True):
            sent[shard_map.shard_of(key)].append(data)
        clock.stamp(block)
        done.append(aggregator.add(block))
    done.append(aggregator.drain())
    aggregates = Block.concat(done)
    assert len(aggregates) < sum(map(len, sent.values())) / 100
    received: dict[str, list[bytes]] = {s.shard_id: [] for s in shard_map.shards}
    for row, (key, data) in enumerate(zip(aggregates.keys, aggregates.data, strict=True)):
        assert len(data) + len(key) <= 1024 * 1024
        shard = shard_map.shard_of(key, aggregates.hash_keys[row])
        users = deaggregate(RawRecord(data, key, "1"))
        assert {shard_map.shard_of(u.partition_key) for u in users} == {shard}
        assert [u.data for u in users] == aggregates.members[row].data
        received[shard] += [u.data for u in users]
    assert received == sent
