"""The AWS output sink: dead letters too large to inline keep their raw bytes in the bucket; a
write's rows are packed into Firehose records of up to ``firehose.record_kib``."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pyarrow.dataset as ds
import pytest

from pipeline.aws.clients import AwsClients
from pipeline.aws.sinks import AwsOutputSink
from pipeline.config import Config
from pipeline.core.results import DeadLetter, Outcome, event_row
from pipeline.emulator import flush_firehose
from pipeline.lake.tables import lake_tables
from pipeline.testing import iot_event, records

pytestmark = pytest.mark.emulator
T0 = 1_767_225_600_000


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


class CountingClients(AwsClients):
    """The clients of a configuration whose Firehose client records each record it sends."""

    def __init__(self, config: Config) -> None:
        super().__init__(config.aws)
        self.records: list[bytes] = []
        firehose = super().client("firehose")

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(firehose, name)

            def put_record_batch(inner, **kwargs: Any) -> Any:
                self.records += [r["Data"] for r in kwargs["Records"]]
                return firehose.put_record_batch(**kwargs)

        self._counting = Counting()

    def client(self, service: str) -> Any:
        return self._counting if service == "firehose" else super().client(service)


def test_the_event_rows_of_a_write_are_packed_into_records_of_record_kib(provisioned):
    """2,000 events of one write: records of at most ``firehose.record_kib`` (here 16 KiB), each
    full but the last, and the lake holds each row, as the consumer wrote it."""
    config, _ = provisioned
    config = dataclasses.replace(
        config, firehose=dataclasses.replace(config.firehose, record_kib=16)
    )
    clients = CountingClients(config)
    shard = "shard-packed"
    events = records(iot_event(i, T0 + i, device=f"d{i % 7}") for i in range(2_000))
    AwsOutputSink(config, clients).write(Outcome(events=events), shard)
    rows = [event_row(r, shard) + b"\n" for r in events]
    sent = clients.records
    assert [row for r in sent for row in r.splitlines(keepends=True)] == rows  # in order
    assert len(sent) > 1 and all(len(r) <= 16 * 1024 for r in sent)
    # full: no record could have taken the next record's first row
    for record, following in itertools.pairwise(sent):
        assert len(record) + len(following.splitlines(keepends=True)[0]) > 16 * 1024
    flush_firehose(config.aws.endpoint_url)
    table = lake_tables(config)["events"]
    lake = ds.dataset(
        f"{config.names.bucket}/{table.location}",
        filesystem=clients.arrow_s3_filesystem(),
        format="parquet",
    )
    got = lake.to_table(filter=ds.field("shard_id") == shard).to_pylist()
    assert sorted(r["event_id"] for r in got) == sorted(f"e-{i}" for i in range(2_000))
