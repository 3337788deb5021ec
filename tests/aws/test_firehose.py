"""Firehose: PutRecordBatch retries the failed entries, and the lake holds each row once."""

from __future__ import annotations

import pyarrow.dataset as ds
import pytest

from pipeline.aws.firehose import FirehoseWriter
from pipeline.emulator import flush_firehose
from pipeline.lake.tables import lake_tables
from tests.faults import FlakyFirehose

pytestmark = pytest.mark.emulator


def test_firehose_writer_retries_failed_puts_and_the_lake_holds_each_row_once(provisioned, no_wait):
    config, clients = provisioned
    table = lake_tables(config)["dead_letters"]
    flaky = FlakyFirehose(clients.firehose, failure_rate=0.25, seed=2)
    rows = [
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
        for i in range(1_200)
    ]
    FirehoseWriter(flaky, table.delivery_stream, backoff=no_wait).put(rows)
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
