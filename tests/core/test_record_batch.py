"""A RecordBatch (records as columns over one buffer, as the KCL child frames them) is the
sequence of its raw records, and the core makes of it exactly what it makes of that list."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import shipped_event_type as event_type
from pipeline.core.records import Payloads, RawRecord, RecordBatch
from pipeline.core.results import event_row, event_rows
from pipeline.core.shard import END_OF_STREAM, ShardCore, ShardSettings
from pipeline.testing import BOUNDED, records
from tests.core.shards import JOBS, T0, event_lists

RECORDS = [
    RawRecord(b'{"a": 1}', "pk", "49590338271490256608559692538361571095921575989136588898"),
    RawRecord(b"", "k\u00e9y", "7", 3, 1_767_225_600_000),
    RawRecord(b"\xff\x00 not json", "", "8", 0, 5),
]


def test_a_batch_is_the_sequence_of_its_records_and_its_slices_and_takes_are_too():
    batch = RecordBatch.of(RECORDS)
    assert len(batch) == 3 and list(batch) == RECORDS
    assert (batch[1], batch[-1]) == (RECORDS[1], RECORDS[2])
    assert list(batch[1:]) == RECORDS[1:] and list(batch.take(np.array([2, 0]))) == RECORDS[::-2]
    assert list(batch.payloads) == [r.data for r in RECORDS]
    assert list(batch.payloads[1:]) == [b"", b"\xff\x00 not json"]
    assert batch.arrivals.tolist() == [0, 1_767_225_600_000, 5]
    assert list(RecordBatch.of([])) == [] and len(RecordBatch.of([]).payloads) == 0


def test_a_payload_span_outside_its_buffer_is_refused_not_read():
    buffer = np.frombuffer(b'{"_control"', dtype=np.uint8)
    outside = Payloads(buffer, np.array([[0, 11], [4, 12]], dtype=np.int64))
    core = ShardCore(event_type("iot"), JOBS, "shard", BOUNDED)
    try:
        core.decoder.decode(outside)
    except IndexError as exc:
        assert "payload 1" in str(exc)
    else:
        raise AssertionError("a span past the buffer was read")


def outcome_of(batch, settings: ShardSettings) -> tuple:
    core = ShardCore(event_type("iot"), JOBS, "shard", settings)
    out = core.process(batch, now_ms=T0)
    return (
        list(out.events),
        [(r.window_start_ms, r.group, dict(r.metrics)) for r in out.results],
        out.late,
        out.dead_letters,
        out.counters,
        core.snapshot(),
    )


ODD_PAYLOADS = st.sampled_from(
    [b"not json", b"{}", b'{"event_id": 1}', b"\xff\xfe", b"", END_OF_STREAM, b'{"_control":"x"}']
)


@settings(max_examples=150, deadline=None)
@given(
    event_lists,
    st.lists(st.tuples(st.integers(0, 130), ODD_PAYLOADS), max_size=5),
    st.lists(st.integers(0, 130), max_size=5),
    st.sampled_from([BOUNDED, ShardSettings(max_future_skew_ms=50_000, max_event_age_ms=20_000)]),
)
def test_the_core_makes_of_a_batch_exactly_what_it_makes_of_its_records(
    events, odd, repeated, settings
):
    """Events, duplicates (the same event again), malformed records, control records
    splitting the batch, events too far from their record's arrival (live settings; a record
    arrives each second): the same events, results, late events, dead letters, counters and
    state, in the same order."""
    payloads: list = list(events)
    for at, payload in odd:
        payloads.insert(at % (len(payloads) + 1), payload)
    for at in repeated:
        if events:
            payloads.insert(at % (len(payloads) + 1), events[at % len(events)])
    listed = [
        r._replace(approximate_arrival_ms=T0 + 1000 * i) for i, r in enumerate(records(payloads))
    ]
    assert outcome_of(RecordBatch.of(listed), settings) == outcome_of(listed, settings)


def lake_row(record: RawRecord, shard_id: str) -> bytes:
    """The row as event_row documents it: the payload without its trailing whitespace and its
    closing brace, then the position."""
    return (
        record.data.rstrip()[:-1]
        + (
            f',"shard_id":"{shard_id}","sequence_number":"{record.sequence_number}",'
            f'"sub_sequence_number":{record.sub_sequence_number}}}'
        ).encode()
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            RawRecord,
            st.binary(max_size=30).map(lambda b: b"{" + b + b"}")
            | st.sampled_from([b"", b" ", b"{}\n\t \x0b\x0c\r"]),
            st.text(max_size=4),
            st.integers(0, 2**128).map(str),
            st.integers(-(2**63), 2**63 - 1),
            st.integers(0, 2**45),
        ),
        max_size=8,
    ),
    st.text(max_size=12),
)
def test_a_batchs_lake_rows_are_made_from_its_buffer_as_from_its_records(listed, shard):
    batch = RecordBatch.of(listed)
    wanted = [lake_row(record, shard) for record in listed]
    assert event_rows(batch, shard) == wanted == event_rows(listed, shard)
    assert [event_row(record, shard) for record in listed] == wanted
    assert event_rows(batch.take(np.arange(len(batch))[::-1]), shard) == wanted[::-1]


def test_records_without_any_byte_still_make_their_rows():
    empty = [RawRecord(b"", "", ""), RawRecord(b"  ", "", "", -1)]
    assert (
        event_rows(RecordBatch.of(empty), "s")
        == [event_row(r, "s") for r in empty]
        == [
            b',"shard_id":"s","sequence_number":"","sub_sequence_number":0}',
            b',"shard_id":"s","sequence_number":"","sub_sequence_number":-1}',
        ]
    )
