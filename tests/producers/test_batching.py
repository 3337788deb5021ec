"""PutRecords calls: limits, budgets, and labels that stay true whatever fails (pure: an
in-memory stream with seeded faults on a simulated clock)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.aws.kinesis import KinesisStream, ShardInfo
from pipeline.aws.retry import Backoff
from pipeline.core.errors import DeliveryError
from pipeline.core.records import RawRecord
from producers.batching import CallLimits, StreamClock, plan_calls
from producers.block import NO_TIME, Block, Outgoing
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions, outgoing_blocks, produce
from producers.shards import SHARD_BYTES_PER_S, SHARD_RECORDS_PER_S, ShardMap
from producers.truth import read_truth
from producers.writer import KinesisWriter
from tests.producers.fakes import FakeKinesis
from tests.producers.outcomes import consumed, expected

CHAOS = ChaosOptions(duplicates=0.04, out_of_order=0.05, late=0.02, malformed=0.03, hot_keys=0.02)


def stream_of(fake: FakeKinesis) -> dict[str, list[RawRecord]]:
    return {
        shard: [RawRecord(s.data, s.partition_key, str(i + 1)) for i, s in enumerate(stored)]
        for shard, stored in fake.stored.items()
    }


@pytest.mark.parametrize(
    ("source", "aggregate"), [("iot", False), ("web", False), ("iot", True), ("web", True)]
)
def test_every_record_lands_as_its_label_says_under_partial_failures_and_throttling(
    tmp_path, source, aggregate
):
    """Per shard, the stream holds exactly the truth's records in the truth's order, and the
    consumer's core does with each what its label says: retries never change an outcome."""
    fake = FakeKinesis(shards=3, entry_failures=0.3, throttles=0.1, seed=11)
    options = ProduceOptions(
        source=source,
        devices=60,
        minutes=12,
        seed=4,
        chaos=CHAOS,
        aggregate=aggregate,
        end_of_stream=True,
        truth=tmp_path / "truth.jsonl",
    )
    stats = produce(options, fake, "s", clock=fake.clock, sleep=fake.clock.sleep)
    assert fake.failed_entries >= (3 if aggregate else 100) and fake.throttled_calls > 0
    assert stats.retried_entries == fake.failed_entries
    truth = read_truth(tmp_path / "truth.jsonl")
    shard_map = ShardMap(_shards(fake))
    want = expected(truth, shard_map)
    got = {shard: consumed(source, shard, records) for shard, records in stream_of(fake).items()}
    assert got == want
    outcomes = {o for records in got.values() for _, o in records}
    assert outcomes == {"counted", "duplicate", "late", "dead", "control"}


def test_without_the_span_rule_the_same_faults_would_change_outcomes():
    """The control experiment: calls spanning more event time than the lateness let a retried
    on-time event land behind much newer ones, where the consumer must call it late."""
    fake = FakeKinesis(shards=2, entry_failures=0.3, seed=11)
    truth: list[dict] = []

    def delivered(block: Block) -> None:
        truth.extend(
            {"data": r.data, "partition_key": r.partition_key, "labels": r.labels} for r in block
        )

    writer = KinesisWriter(
        fake, "s", backoff=Backoff(sleep=fake.clock.sleep), on_delivered=delivered, lateness_ms=None
    )
    for block in outgoing_blocks(ProduceOptions(devices=60, minutes=12, seed=4)):
        writer.put_block(block)
    writer.close()
    want = expected(truth, ShardMap(_shards(fake)))
    got = {shard: consumed("iot", shard, records) for shard, records in stream_of(fake).items()}
    assert got != want
    late = sum(o == "late" for records in got.values() for _, o in records)
    assert late > 0  # on-time events judged late


@pytest.mark.parametrize("aggregate", [False, True])
def test_no_shard_ever_gets_more_than_its_limits_in_any_second(aggregate):
    fake = FakeKinesis(shards=2)
    options = ProduceOptions(devices=2_000, minutes=3, seed=2, aggregate=aggregate)
    stats = produce(options, fake, "s", clock=fake.clock, sleep=fake.clock.sleep)
    for stored in fake.stored.values():
        at = np.array([s.at for s in stored])
        sizes = np.array([len(s.data) + len(s.partition_key) for s in stored])
        cumulative = np.concatenate([[0], np.cumsum(sizes)])
        window_end = np.searchsorted(at, at + 1.0, "left")  # records in [t, t + 1 s)
        assert (window_end - np.arange(len(at))).max() <= SHARD_RECORDS_PER_S
        assert (cumulative[window_end] - cumulative[: len(at)]).max() <= SHARD_BYTES_PER_S
    seconds = fake.clock.now
    if aggregate:  # 1 MiB/s of aggregates carries far more than 1,000 user records/s per shard
        assert stats.user_records / seconds / 2 > 3_000
    else:  # and the budgets leave little of the limit unused
        assert stats.records / seconds / 2 > 0.8 * SHARD_RECORDS_PER_S


def test_calls_respect_the_service_limits():
    blocks = [
        Block.of([Outgoing(f"k{i % 7}", b"x" * 20_000) for i in range(600)]),
        Block.of([Outgoing("k", b"y" * 10)] * 1_200),
    ]
    for block in blocks:
        StreamClock().stamp(block)
        ends = plan_calls(block, block.sizes(), None, CallLimits(), final=True)
        spans = np.diff([0, *ends])
        sizes = np.add.reduceat(block.sizes(), [0, *ends[:-1]])
        assert ends[-1] == len(block) and spans.max() <= 500 and sizes.max() <= 5 * 1024 * 1024
    assert np.diff([0, *ends]).tolist() == [500, 500, 200]


def test_a_late_record_starts_a_new_call_and_the_rest_waits_for_more():
    records = [Outgoing("k", b"{}")] * 10
    records[6] = Outgoing("k", b"{}", {"late": True})
    block = Block.of(records)
    StreamClock().stamp(block)
    assert plan_calls(block, block.sizes(), None, CallLimits(), final=False) == [6]
    assert plan_calls(block, block.sizes(), None, CallLimits(), final=True) == [6, 10]


def test_a_call_spans_at_most_the_lateness_of_event_time():
    ts = [0, 10, 20, 31, 40, 45, 70, 200]
    block = Block.of([Outgoing("k", b"{}")] * len(ts), ts=[1_000_000 + t for t in ts])
    StreamClock().stamp(block)
    limits = CallLimits(lateness_ms=30)
    assert plan_calls(block, block.sizes(), None, limits, final=True) == [3, 6, 7, 8]


def test_untimed_records_never_constrain_the_span():
    block = Block.of([Outgoing("k", b"{}")] * 4, ts=[NO_TIME] * 4)
    StreamClock().stamp(block)
    assert plan_calls(block, block.sizes(), None, CallLimits(lateness_ms=0), final=True) == [4]


def test_records_that_never_get_through_end_in_a_clear_error():
    fake = FakeKinesis(shards=1, entry_failures=1.0)
    writer = KinesisWriter(fake, "s", backoff=Backoff(max_attempts=3, sleep=fake.clock.sleep))
    writer.put_block(Block.of([Outgoing("k", b"{}")] * 40))
    with pytest.raises(DeliveryError, match=r"40 records were not delivered to s after 3") as err:
        writer.close()
    assert (err.value.delivered, err.value.undelivered) == (0, 40)


def test_a_record_over_one_mib_is_refused_before_anything_is_sent():
    fake = FakeKinesis(shards=1)
    writer = KinesisWriter(fake, "s")
    writer.put(Outgoing("k", b"x" * (1024 * 1024)))
    with pytest.raises(DeliveryError, match="exceeds the 1048576-byte limit"):
        writer.close()
    assert fake.stored["shardId-000000000000"] == []


def _shards(fake: FakeKinesis) -> list[ShardInfo]:
    return KinesisStream(fake, "s").shards()


def test_force_lets_a_rate_past_the_shards_limits_through():
    fake = FakeKinesis(shards=1)
    options = ProduceOptions(devices=2_000, minutes=1, seed=2, rate=5_000, force=True)
    stats = produce(options, fake, "s", clock=fake.clock, sleep=fake.clock.sleep)
    assert stats.records > 10_000 and stats.calls < stats.records / 400  # full calls
    expected_s = (stats.records - 5_000) / 5_000  # the overall rate, after a second's burst
    assert 0.9 * expected_s < fake.clock.now < 1.1 * expected_s
