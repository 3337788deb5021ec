"""Kinesis patches: constant-cost puts and reads, AWS resharding, record size limits."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.kinesis.models import Shard, kinesis_backends

pytestmark = pytest.mark.emulator

HALF = 2**127
MAX_HASH = 2**128 - 1


class CountingRecords(OrderedDict):
    """A shard's records that count every record any iteration visits (a scan visits them all)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.visits = 0

    def _count(self, keys: Iterator[Any]) -> Iterator[Any]:
        for key in keys:
            self.visits += 1
            yield key

    def __iter__(self) -> Iterator[Any]:
        return self._count(super().__iter__())

    def __reversed__(self) -> Iterator[Any]:
        return self._count(super().__reversed__())

    def keys(self) -> list[Any]:  # type: ignore[override]
        return list(self)

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[key] for key in self]

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        return [(key, self[key]) for key in self]


def moto_shard(stream: str, shard_id: str = "shardId-000000000000") -> Shard:
    return kinesis_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].streams[stream].shards[shard_id]


def hash_of(partition_key: str) -> int:
    return int(hashlib.md5(partition_key.encode()).hexdigest(), 16)


def put(kinesis: Any, stream: str, keys: list[str], tag: str) -> list[dict[str, str]]:
    records = [{"Data": f"{tag}{key}".encode(), "PartitionKey": key} for key in keys]
    response = kinesis.put_records(StreamName=stream, Records=records)
    assert response["FailedRecordCount"] == 0
    return response["Records"]


def read_shard(kinesis: Any, stream: str, shard_id: str) -> tuple[list[bytes], dict[str, Any]]:
    """Every record of a shard from TRIM_HORIZON, and the last GetRecords response."""
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    data: list[bytes] = []
    while True:
        response = kinesis.get_records(ShardIterator=iterator, Limit=7)
        data += [record["Data"] for record in response["Records"]]
        if not response["Records"] or "NextShardIterator" not in response:
            return data, response
        iterator = response["NextShardIterator"]


def shards_by_id(kinesis: Any, stream: str) -> dict[str, dict[str, Any]]:
    return {shard["ShardId"]: shard for shard in kinesis.list_shards(StreamName=stream)["Shards"]}


def test_puts_and_reads_do_not_scan_the_shard(client: Callable[[str], Any], name: str) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    shard = moto_shard(name)
    shard.records = records = CountingRecords()
    total = 30_000
    for start in range(0, total, 500):
        put(kinesis, name, [str(i) for i in range(start, start + 500)], "r")
    assert len(records) == total
    # A put reads at most the newest key; stock moto listed every key on every put (~450M visits).
    assert records.visits <= total

    records.visits = 0
    iterator = kinesis.get_shard_iterator(
        StreamName=name,
        ShardId="shardId-000000000000",
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        StartingSequenceNumber="29990",
    )["ShardIterator"]
    response = kinesis.get_records(ShardIterator=iterator, Limit=5)
    assert [r["SequenceNumber"] for r in response["Records"]] == [
        str(n) for n in range(29991, 29996)
    ]
    assert [r["Data"] for r in response["Records"]] == [
        f"r{n}".encode() for n in range(29990, 29995)
    ]
    assert records.visits <= 2  # the oldest and newest keys, not the 29,990 records before
    assert "NextShardIterator" in response


def test_split_under_puts_keeps_parent_records_and_routes_to_children(
    client: Callable[[str], Any], name: str
) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    parent = "shardId-000000000000"
    before = put(kinesis, name, [str(i) for i in range(100)], "before-")
    assert {r["ShardId"] for r in before} == {parent}

    kinesis.split_shard(StreamName=name, ShardToSplit=parent, NewStartingHashKey=str(HALF))
    keys = [str(i) for i in range(100, 200)]
    after = put(kinesis, name, keys, "after-")

    low, high = "shardId-000000000001", "shardId-000000000002"
    expected = [low if hash_of(key) < HALF else high for key in keys]
    assert [r["ShardId"] for r in after] == expected
    shards = shards_by_id(kinesis, name)
    assert shards[parent]["SequenceNumberRange"]["EndingSequenceNumber"] == "100"
    assert shards[low]["ParentShardId"] == shards[high]["ParentShardId"] == parent
    assert shards[low]["HashKeyRange"] == {
        "StartingHashKey": "0",
        "EndingHashKey": str(HALF - 1),
    }
    assert shards[high]["HashKeyRange"] == {
        "StartingHashKey": str(HALF),
        "EndingHashKey": str(MAX_HASH),
    }
    assert "EndingSequenceNumber" not in shards[low]["SequenceNumberRange"]

    parent_data, last = read_shard(kinesis, name, parent)
    assert parent_data == [f"before-{i}".encode() for i in range(100)]
    assert "NextShardIterator" not in last  # SHARD_END
    assert last["ChildShards"] == [
        {"ShardId": low, "ParentShards": [parent], "HashKeyRange": shards[low]["HashKeyRange"]},
        {"ShardId": high, "ParentShards": [parent], "HashKeyRange": shards[high]["HashKeyRange"]},
    ]
    for child in (low, high):
        data, last = read_shard(kinesis, name, child)
        want = [key for key, shard in zip(keys, expected, strict=True) if shard == child]
        assert data == [f"after-{key}".encode() for key in want]
        assert "NextShardIterator" in last  # an open shard never ends


def test_split_racing_concurrent_puts_loses_nothing(
    client: Callable[[str], Any], name: str
) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    parent = "shardId-000000000000"
    sent: list[tuple[str, str]] = []
    first_batch_done, split_done = threading.Event(), threading.Event()

    def producer() -> None:
        own = client("kinesis")
        for batch in range(20):
            if batch == 19:
                split_done.wait(timeout=30)  # the last batch surely lands after the split
            keys = [f"{batch}-{i}" for i in range(50)]
            sent.extend(zip(keys, [r["ShardId"] for r in put(own, name, keys, "")], strict=True))
            first_batch_done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    first_batch_done.wait(timeout=30)
    kinesis.split_shard(StreamName=name, ShardToSplit=parent, NewStartingHashKey=str(HALF))
    split_done.set()
    thread.join()

    stored = {
        shard_id: read_shard(kinesis, name, shard_id)[0] for shard_id in shards_by_id(kinesis, name)
    }
    assert sorted(data for records in stored.values() for data in records) == sorted(
        key.encode() for key, _ in sent
    )
    for key, shard_id in sent:
        assert key.encode() in stored[shard_id]
        if shard_id != parent:
            assert (hash_of(key) >= HALF) == (shard_id == "shardId-000000000002")
    ending = shards_by_id(kinesis, name)[parent]["SequenceNumberRange"]["EndingSequenceNumber"]
    assert ending == str(len(stored[parent]))
    assert len(stored[parent]) >= 50  # the first batch, before the split
    assert len(sent) - len(stored[parent]) >= 50  # the last batch, after it


def test_merge_closes_both_parents_with_their_records(
    client: Callable[[str], Any], name: str
) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    first, second = "shardId-000000000000", "shardId-000000000001"
    keys = [str(i) for i in range(60)]
    before = put(kinesis, name, keys, "before-")
    kinesis.merge_shards(StreamName=name, ShardToMerge=first, AdjacentShardToMerge=second)
    after = put(kinesis, name, keys, "after-")

    child = "shardId-000000000002"
    assert {r["ShardId"] for r in after} == {child}
    shards = shards_by_id(kinesis, name)
    assert shards[child]["ParentShardId"] == first
    assert shards[child]["AdjacentParentShardId"] == second
    assert shards[child]["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": str(MAX_HASH)}
    for parent in (first, second):
        mine = [key for key, r in zip(keys, before, strict=True) if r["ShardId"] == parent]
        ending = shards[parent]["SequenceNumberRange"]["EndingSequenceNumber"]
        assert ending == str(len(mine))
        data, last = read_shard(kinesis, name, parent)
        assert data == [f"before-{key}".encode() for key in mine]
        assert "NextShardIterator" not in last
        assert [c["ShardId"] for c in last["ChildShards"]] == [child]
        assert last["ChildShards"][0]["ParentShards"] == [first, second]
    assert read_shard(kinesis, name, child)[0] == [f"after-{key}".encode() for key in keys]


def test_update_shard_count_reshards_like_aws(client: Callable[[str], Any], name: str) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    put(kinesis, name, ["a", "b", "c"], "")
    kinesis.update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")

    shards = shards_by_id(kinesis, name)
    parent = shards["shardId-000000000000"]
    assert parent["SequenceNumberRange"]["EndingSequenceNumber"] == "3"
    open_shards = [
        s for s in shards.values() if "EndingSequenceNumber" not in s["SequenceNumberRange"]
    ]
    assert len(open_shards) == 2
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2
    assert read_shard(kinesis, name, "shardId-000000000000")[0] == [b"a", b"b", b"c"]


def test_a_key_equal_to_the_ending_hash_routes_to_that_shard(
    client: Callable[[str], Any], name: str
) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    for shard in shards:
        for key in (
            shard["HashKeyRange"]["StartingHashKey"],
            shard["HashKeyRange"]["EndingHashKey"],
        ):
            response = kinesis.put_record(
                StreamName=name, Data=b"x", PartitionKey="p", ExplicitHashKey=key
            )
            assert response["ShardId"] == shard["ShardId"]


def test_iterator_from_a_stream_arn_reads_without_the_arn(
    client: Callable[[str], Any], name: str
) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="p")
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    iterator = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [b"x"]


def test_record_size_limits(client: Callable[[str], Any], name: str) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    limit = 1_048_576
    kinesis.put_record(StreamName=name, Data=b"x" * (limit - 1), PartitionKey="k")
    with pytest.raises(ClientError) as raised:
        kinesis.put_record(StreamName=name, Data=b"x" * limit, PartitionKey="k")
    assert raised.value.response["Error"]["Code"] == "ValidationException"

    with pytest.raises(ClientError) as raised:
        kinesis.put_records(StreamName=name, Records=[{"Data": b"x" * limit, "PartitionKey": "k"}])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "records.1.member.data" in raised.value.response["Error"]["Message"]

    records = [{"Data": b"x" * (limit - 1), "PartitionKey": "k"}] * 6
    with pytest.raises(ClientError) as raised:
        kinesis.put_records(StreamName=name, Records=records)
    assert raised.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert moto_shard(name).get_max_sequence_number() == 1  # nothing of the rejected calls


@pytest.mark.parametrize(
    ("entry", "position"),
    [
        ({"PartitionKey": "k" * 257}, "records.3.member.partitionKey"),
        ({"PartitionKey": "k", "ExplicitHashKey": str(2**128)}, "records.3.member.explicitHashKey"),
        ({"PartitionKey": "k", "ExplicitHashKey": "12a"}, "records.3.member.explicitHashKey"),
    ],
)
def test_put_records_validates_every_entry_before_storing_any(
    client: Callable[[str], Any], name: str, entry: dict[str, str], position: str
) -> None:
    """A call that fails stores nothing: AWS validates the whole request first (moto stored
    the entries before the bad one)."""
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    records = [{"Data": b"a", "PartitionKey": "k"}, {"Data": b"b", "PartitionKey": "k" * 256}]
    with pytest.raises(ClientError) as raised:
        kinesis.put_records(StreamName=name, Records=[*records, {"Data": b"c", **entry}])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert (
        f"at '{position}' failed to satisfy constraint" in raised.value.response["Error"]["Message"]
    )
    assert moto_shard(name).get_max_sequence_number() == 0
    put(kinesis, name, ["k", "k" * 256], "ok")  # the longest key there may be
    assert read_shard(kinesis, name, "shardId-000000000000")[0] == [b"okk", b"ok" + b"k" * 256]


def test_list_shards_honours_every_shard_filter(client: Callable[[str], Any], name: str) -> None:
    """A KCL worker with an empty lease table lists AT_TRIM_HORIZON and checks that the shards
    cover the hash range exactly once: after a split and a merge it must get the roots only."""
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)  # 0: [0, HALF), 1: [HALF, MAX]

    def listed(**shard_filter: Any) -> list[str]:
        shards = kinesis.list_shards(StreamName=name, ShardFilter=shard_filter)["Shards"]
        return [shard["ShardId"] for shard in shards]

    created = kinesis.list_shards(StreamName=name)["Shards"]
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000001", NewStartingHashKey=str(HALF + 2**120)
    )  # 2: [HALF, HALF + 2**120), 3: [HALF + 2**120, MAX]
    split_done = time.time()
    kinesis.merge_shards(
        StreamName=name,
        ShardToMerge="shardId-000000000000",
        AdjacentShardToMerge="shardId-000000000002",
    )  # 4: [0, HALF + 2**120)
    every = [f"shardId-00000000000{n}" for n in range(5)]

    assert listed(Type="AT_TRIM_HORIZON") == [s["ShardId"] for s in created] == every[:2]
    assert listed(Type="FROM_TRIM_HORIZON") == every
    assert listed(Type="AT_LATEST") == ["shardId-000000000003", "shardId-000000000004"]
    assert listed(Type="AFTER_SHARD_ID", ShardId="shardId-000000000002") == every[3:]
    assert listed(Type="AT_TIMESTAMP", Timestamp=split_done) == [every[0], every[2], every[3]]
    assert listed(Type="FROM_TIMESTAMP", Timestamp=split_done) == [every[0], *every[2:]]
    latest = {"StreamName": name, "ShardFilter": {"Type": "AT_LATEST"}}
    page = kinesis.list_shards(**latest, MaxResults=1)
    assert [s["ShardId"] for s in page["Shards"]] == ["shardId-000000000003"]
    rest = kinesis.list_shards(**latest, NextToken=page["NextToken"])
    assert [s["ShardId"] for s in rest["Shards"]] == ["shardId-000000000004"]
    with pytest.raises(ClientError, match="needs a Timestamp"):
        kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_TIMESTAMP"})
