"""Kinesis: PutRecords reports the entries that failed and why, the writer retries only those;
reads, the record at a sequence number, and failures named by stream and operation."""

from __future__ import annotations

from collections import Counter

import pytest
from botocore.exceptions import ClientError

from pipeline.aws.kinesis import IteratorExpired, KinesisStream
from pipeline.core.errors import ResourceMissingError
from producers.chaos import Outgoing
from producers.writer import KinesisWriter
from tests.faults import FlakyKinesis

pytestmark = pytest.mark.emulator


def read_all(stream: KinesisStream) -> list[bytes]:
    read = []
    for shard in stream.shards():
        iterator = stream.iterator(shard.shard_id, None, "TRIM_HORIZON")
        while True:
            result = stream.read(iterator, 10_000)
            read += [r.data for r in result.records]
            if not result.records:
                break
            iterator = result.next_iterator
    return read


def test_put_records_returns_the_failed_entries_with_their_codes(provisioned):
    config, clients = provisioned
    flaky = FlakyKinesis(clients.kinesis, failure_rate=0.5, seed=7)
    stream = KinesisStream(flaky, config.names.stream)
    entries = [{"Data": f"put-{i}".encode(), "PartitionKey": str(i)} for i in range(20)]
    failed = stream.put_records(entries)
    assert len(failed) == flaky.failed_entries > 0
    assert set(failed.values()) == {"ProvisionedThroughputExceededException"}
    stored = {e["Data"] for i, e in enumerate(entries) if i not in failed}
    assert stored <= set(read_all(KinesisStream(clients.kinesis, config.names.stream)))
    assert KinesisStream(clients.kinesis, config.names.stream).put_records(entries[:2]) == {}


def test_kinesis_writer_retries_only_failed_entries_and_delivers_each_once(provisioned, no_wait):
    config, clients = provisioned
    flaky = FlakyKinesis(clients.kinesis, failure_rate=0.3, seed=4)
    delivered: list[Outgoing] = []
    writer = KinesisWriter(
        flaky, config.names.stream, backoff=no_wait, on_delivered=delivered.extend
    )
    sent = [Outgoing(f"device-{i % 13}", f'{{"n": {i}}}'.encode()) for i in range(1_300)]
    for record in sent:
        writer.put(record)
    stats = writer.close()
    assert flaky.failed_entries > 0 and stats.retried_entries == flaky.failed_entries
    assert stats.error_codes == {"ProvisionedThroughputExceededException": flaky.failed_entries}
    assert stats.records == len(sent) and sorted(r.data for r in delivered) == sorted(
        r.data for r in sent
    )
    read = Counter(read_all(KinesisStream(clients.kinesis, config.names.stream)))
    # each exactly once: nothing lost, nothing twice
    assert {data: n for data, n in read.items() if data in {r.data for r in sent}} == Counter(
        r.data for r in sent
    )


def test_record_at_is_the_stored_record(provisioned):
    config, clients = provisioned
    put = clients.kinesis.put_record(
        StreamName=config.names.stream, Data=b"marker?", PartitionKey="k", ExplicitHashKey="0"
    )
    stream = KinesisStream(clients.kinesis, config.names.stream)
    assert stream.record_at(put["ShardId"], put["SequenceNumber"]) == b"marker?"
    assert stream.summary().status == "ACTIVE"


def test_a_missing_stream_is_named_with_the_operation(provisioned, name):
    _, clients = provisioned
    stream = KinesisStream(clients.kinesis, name)
    with pytest.raises(ResourceMissingError) as missing:
        stream.shards()
    assert str(missing.value).startswith(
        f"Kinesis stream {name!r} does not exist (ListShards: ResourceNotFoundException: "
    )
    with pytest.raises(ResourceMissingError, match=rf"'{name}' does not exist \(PutRecords: "):
        stream.put_records([{"Data": b"x", "PartitionKey": "k"}])


def test_an_expired_iterator_is_its_own_error():
    class Expired:
        def get_records(self, **_):
            error = {"Code": "ExpiredIteratorException", "Message": "Iterator expired"}
            raise ClientError({"Error": error}, "GetRecords")

    with pytest.raises(IteratorExpired, match=r"Kinesis stream 's': .*Iterator expired"):
        KinesisStream(Expired(), "s").read("iterator", 10)
