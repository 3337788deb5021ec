"""Firehose: rows packed into records of concatenated JSON, PutRecordBatch retrying the failed
records, and the lake holding each row once; what a retry cannot fix fails at once."""

from __future__ import annotations

import json

import pyarrow.dataset as ds
import pytest

from pipeline.aws.firehose import FirehoseWriter, chunks, encode_row, pack
from pipeline.aws.retry import Backoff
from pipeline.core.errors import ConfigError, ResourceMissingError, SinkError
from pipeline.emulator import flush_firehose
from pipeline.lake.tables import lake_tables
from tests.faults import FlakyFirehose


def dead_letter_rows(count: int) -> list[dict]:
    return [
        {
            "record_id": f"s|{i}|0",
            "reason": "r",
            "shard_id": "s",
            "sequence_number": str(i),
            "sub_sequence_number": 0,
            "partition_key": "k",
            "data_base64": "",
            "data_size": 0,
            "data_uri": None,
            "approximate_arrival_ms": i,
        }
        for i in range(count)
    ]


def test_rows_are_packed_in_order_into_records_of_at_most_the_size():
    rows = [b"a" * 300 + b"\n", b"b" * 600 + b"\n", b"c" * 100 + b"\n", b"d" * 2000 + b"\n"]
    # 301 + 601 fit in 1,000 bytes, + 101 would not; the 2,001-byte row goes alone
    assert list(pack(rows, 1000)) == [rows[0] + rows[1], rows[2], rows[3]]
    assert list(pack(rows, 10_000)) == [b"".join(rows)]
    assert list(pack([], 1000)) == []
    # a call: at most 500 records and 4 MiB
    assert [len(c) for c in chunks([b"x"] * 1201)] == [500, 500, 201]
    big = [b"y" * (1000 * 1024)] * 9
    assert [len(c) for c in chunks(big)] == [4, 4, 1]


def test_a_record_size_beyond_firehoses_limit_is_a_config_error():
    with pytest.raises(ConfigError, match=r"firehose.record_kib: 1001 is not within 1-1000"):
        FirehoseWriter(None, "s", record_kib=1001)


@pytest.mark.emulator
def test_packed_records_are_retried_whole_and_the_lake_holds_each_row_once(provisioned, no_wait):
    config, clients = provisioned
    table = lake_tables(config)["dead_letters"]
    flaky = FlakyFirehose(clients.firehose, failure_rate=0.25, seed=2)
    rows = dead_letter_rows(1_200)
    writer = FirehoseWriter(flaky, table.delivery_stream, backoff=no_wait, record_kib=4)
    writer.put(rows)
    records = list(pack([encode_row(r) for r in rows], 4 * 1024))
    assert all(len(r) <= 4096 for r in records)
    assert (writer.rows_sent, writer.records_sent) == (1_200, len(records))
    assert len(records) < 1_200 / 10  # ~300-byte rows: 13 or more per record
    assert flaky.failed_entries > 0
    flush_firehose(config.aws.endpoint_url)
    lake = ds.dataset(
        f"{config.names.bucket}/{table.location}",
        filesystem=clients.arrow_s3_filesystem(),
        format="parquet",
    )
    got = lake.to_table(columns=[f.name for f in table.schema]).to_pylist()
    got = [r for r in got if r["shard_id"] == "s"]
    assert sorted(got, key=lambda r: r["approximate_arrival_ms"]) == rows


@pytest.mark.emulator
def test_a_missing_delivery_stream_fails_at_once(provisioned, name):
    _, clients = provisioned
    pauses = []
    backoff = Backoff(sleep=pauses.append)
    with pytest.raises(SinkError) as failed:
        FirehoseWriter(clients.firehose, name, backoff=backoff).put(dead_letter_rows(3))
    assert pauses == []  # not retried: it would fail the same way
    assert isinstance(failed.value.__cause__, ResourceMissingError)
    assert str(failed.value).startswith(
        f"cannot write rows to the lake: Firehose delivery stream {name!r} does not exist "
        "(PutRecordBatch: ResourceNotFoundException: "
    )
    assert json.dumps(str(failed.value)).count("\\n") == 0  # one line
