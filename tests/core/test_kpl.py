"""KPL aggregation: our encoder and de-aggregator against aws-kinesis-agg, an independent one."""

from __future__ import annotations

import base64
import hashlib

from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.kpl import MAGIC, UserRecord, aggregate, deaggregate
from pipeline.core.records import RawRecord

users = st.lists(
    st.builds(
        UserRecord,
        st.text(min_size=1, max_size=20),
        st.binary(max_size=300),
        st.one_of(st.none(), st.integers(0, 2**128 - 1).map(str)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(users)
def test_our_aggregates_deaggregate_the_same_with_both_implementations(records):
    blob = aggregate(records)
    ours = deaggregate(RawRecord(blob, "outer", "777"))
    assert [(r.partition_key, r.data) for r in ours] == [(u.partition_key, u.data) for u in records]
    assert [(r.sequence_number, r.sub_sequence_number) for r in ours] == [
        ("777", i) for i in range(len(records))
    ]
    theirs = deaggregate_records(
        [
            {
                "kinesis": {
                    "data": base64.b64encode(blob).decode(),
                    "partitionKey": "outer",
                    "sequenceNumber": "777",
                    "approximateArrivalTimestamp": 0,
                    "kinesisSchemaVersion": "1.0",
                }
            }
        ]
    )
    assert [
        (r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"])) for r in theirs
    ] == [(u.partition_key, u.data) for u in records]
    for record, user in zip(theirs, records, strict=True):
        if user.explicit_hash_key is not None:  # absent ones they derive from the partition key
            assert record["kinesis"]["explicitHashKey"] == user.explicit_hash_key


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=20), st.binary(min_size=1, max_size=300)),
        min_size=1,
        max_size=40,
    )
)
def test_aws_kinesis_agg_aggregates_deaggregate_with_ours(pairs):
    aggregator = RecordAggregator()
    for key, data in pairs:
        assert aggregator.add_user_record(key, data) is None
    blob = aggregator.clear_and_get().get_contents()[2]
    ours = deaggregate(RawRecord(blob, "x", "5"))
    assert [(r.partition_key, r.data) for r in ours] == pairs


def test_records_that_are_not_valid_aggregates_pass_through_unchanged():
    good = aggregate([UserRecord("k", b"payload")])
    for broken in (
        MAGIC
        + b"\x1a\xff\xff"
        + hashlib.md5(b"\x1a\xff\xff").digest(),  # truncated field, right MD5
        good[:-1] + bytes([good[-1] ^ 1]),  # wrong MD5
        MAGIC + b"short",
        b'{"event_id": "plain JSON"}',
    ):
        record = RawRecord(broken, "pk", "9", 0, 1)
        assert deaggregate(record) == [record]
