"""The AWS output sink: dead letters too large to inline keep their raw bytes in the bucket."""

from __future__ import annotations

import pyarrow.dataset as ds
import pytest

from pipeline.aws.sinks import AwsOutputSink
from pipeline.core.results import DeadLetter, Outcome
from pipeline.emulator import flush_firehose
from pipeline.lake.tables import lake_tables

pytestmark = pytest.mark.emulator


def test_large_dead_letters_keep_their_raw_bytes_in_the_bucket(provisioned):
    config, clients = provisioned
    big = DeadLetter("oversized payload", "shard-7", "99", 0, "k", b"\x00\xff" * 100_000)
    small = DeadLetter("invalid JSON", "shard-7", "100", 0, "k", b"{")
    AwsOutputSink(config, clients).write(Outcome(dead_letters=[big, small]), "shard-7")
    stored = clients.s3.get_object(Bucket=config.names.bucket, Key=big.raw_key)["Body"].read()
    assert stored == big.data
    flush_firehose(config.aws.endpoint_url)
    table = lake_tables(config)["dead_letters"]
    lake = ds.dataset(
        f"{config.names.bucket}/{table.location}",
        filesystem=clients.arrow_s3_filesystem(),
        format="parquet",
    )
    rows = {r["record_id"]: r for r in lake.to_table().to_pylist() if r["shard_id"] == "shard-7"}
    assert rows["shard-7|99|0"]["data_uri"] == f"s3://{config.names.bucket}/{big.raw_key}"
    assert (
        rows["shard-7|99|0"]["data_base64"] is None and rows["shard-7|99|0"]["data_size"] == 200_000
    )
    assert (
        rows["shard-7|100|0"]["data_base64"] == "ew==" and rows["shard-7|100|0"]["data_uri"] is None
    )
