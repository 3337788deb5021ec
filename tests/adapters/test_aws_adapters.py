"""The AWS adapters against the embedded emulator (real round trips), with injected failures."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pyarrow.dataset as ds
import pytest

from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import CheckpointTable, ResultsTable
from pipeline.aws.firehose import FirehoseWriter
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.provision import Provisioner
from pipeline.aws.retry import Backoff
from pipeline.aws.state import SnapshotStore
from pipeline.config import load_config
from pipeline.config import shipped_event_type as event_type
from pipeline.core.records import Checkpoint
from pipeline.core.shard import ShardCore
from pipeline.emulator import flush_firehose
from pipeline.lake.tables import lake_tables
from pipeline.testing import iot_event, records
from producers.chaos import Outgoing
from producers.writer import KinesisWriter
from tests.faults import FlakyDynamoDB, FlakyFirehose, FlakyKinesis
from tests.oracle import oracle

pytestmark = pytest.mark.emulator
T0 = 1_767_225_600_000
NO_WAIT = Backoff(base_s=0.0, max_attempts=30, sleep=lambda _: None)


@pytest.fixture(scope="module")
def provisioned(emulator):
    config = load_config(env={}).with_endpoint(emulator.endpoint_url)
    names = dataclasses.replace(
        config.names,
        stream="adapters-stream",
        results_table="adapters-results",
        state_table="adapters-state",
        bucket="adapters-lake",
        state_bucket="adapters-state",
        glue_database="adapters",
        firehose_prefix="adapters-",
    )
    config = dataclasses.replace(config, names=names)
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    return config, clients


def test_provision_is_idempotent_and_glue_matches_the_lake_tables(provisioned):
    config, clients = provisioned
    again = Provisioner(config, clients).run()
    assert again.created == []
    for table in lake_tables(config).values():
        glue = clients.glue.get_table(DatabaseName=config.names.glue_database, Name=table.name)[
            "Table"
        ]
        assert glue["StorageDescriptor"]["Columns"] == table.glue_columns()
        assert [k["Name"] for k in glue["PartitionKeys"]] == ["dt", "hour"]
        stream = clients.firehose.describe_delivery_stream(DeliveryStreamName=table.delivery_stream)
        destination = stream["DeliveryStreamDescription"]["Destinations"][0][
            "ExtendedS3DestinationDescription"
        ]
        assert destination["Prefix"] == table.prefix


def test_kinesis_writer_retries_only_failed_entries_and_delivers_each_once(provisioned):
    config, clients = provisioned
    flaky = FlakyKinesis(clients.kinesis, failure_rate=0.3, seed=4)
    delivered: list[Outgoing] = []
    writer = KinesisWriter(
        flaky, config.names.stream, backoff=NO_WAIT, on_delivered=delivered.extend
    )
    sent = [Outgoing(f"device-{i % 13}", f'{{"n": {i}}}'.encode()) for i in range(1_300)]
    for record in sent:
        writer.put(record)
    stats = writer.close()
    assert flaky.failed_entries > 0 and stats.retried_entries == flaky.failed_entries
    assert stats.records == len(sent) and sorted(r.data for r in delivered) == sorted(
        r.data for r in sent
    )

    stream = KinesisStream(clients.kinesis, config.names.stream)
    read = []
    for shard in stream.shards():
        iterator = stream.iterator(shard.shard_id, None, "TRIM_HORIZON")
        while True:
            result = stream.read(iterator, 10_000)
            read += [r.data for r in result.records]
            if not result.records:
                break
            iterator = result.next_iterator
    assert Counter(read) == Counter(
        r.data for r in sent
    )  # each exactly once: nothing lost, nothing twice


def test_firehose_writer_retries_failed_puts_and_the_lake_holds_each_row_once(provisioned):
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
    FirehoseWriter(flaky, table.delivery_stream, backoff=NO_WAIT).put(rows)
    assert flaky.failed_entries > 0
    flush_firehose(config.aws.endpoint_url)
    lake = ds.dataset(
        f"{config.names.bucket}/{table.location}",
        filesystem=clients.arrow_s3_filesystem(),
        format="parquet",
    )
    got = lake.to_table(columns=[f.name for f in table.schema]).to_pylist()
    assert sorted(got, key=lambda r: r["approximate_arrival_ms"]) == rows


def test_results_table_merges_parts_of_shards_idempotently_under_throttling(provisioned):
    config, clients = provisioned
    (job,) = config.jobs_for("iot")
    flaky = FlakyDynamoDB(clients.dynamodb, throttle_rate=0.3, seed=1)
    table = ResultsTable(flaky, config.names.results_table, [job], backoff=NO_WAIT)
    core = {s: ShardCore(event_type("iot"), [job], s) for s in ("shard-a", "shard-b")}
    events = {
        "shard-a": [
            iot_event(i, T0 + i * 1000, device=f"d{i % 3}", temperature=float(i)) for i in range(30)
        ],
        "shard-b": [
            iot_event(100 + i, T0 + i * 1500, device=f"d{i % 3}", temperature=float(-i))
            for i in range(40)
        ],
    }
    rows = {}
    for shard, shard_events in events.items():
        core[shard].process(records(shard_events))
        parts = core[shard].close_windows().results
        for row in table.write(parts, shard) + table.write(parts, shard):  # and its replay
            rows[row["result_id"]] = row
    assert flaky.throttled > 0
    every = events["shard-a"] + events["shard-b"]
    expected, _ = oracle(every, 60_000, 10**9, ("device_id", "device_type", "site"))
    items = {(i["device_id"], i["sk"]): i for i in table.scan() if i["job"] == job.name}
    assert {k: i["events"] for k, i in items.items()} == {
        (k[1][0], k[0]): e["events"] for k, e in expected.items()
    }
    for (device, start), item in items.items():
        want = expected[(start, (device, "thermostat", "site-1"))]
        assert (item["temperature_min"], item["temperature_max"]) == (
            want["temperature_min"],
            want["temperature_max"],
        )
        assert item["temperature_avg"] == pytest.approx(want["temperature_avg"], rel=1e-12)
        assert item["shards"] in ("shard-a", "shard-b", "shard-a,shard-b")
        assert (
            rows[item["result_id"]]["version"] == item["version"]
        )  # the lake gets the last version


def test_snapshots_are_keyed_by_checkpoint_and_pruned(provisioned):
    config, clients = provisioned
    store = SnapshotStore(clients.s3, config.names.state_bucket, "app")
    store.save("shard-1", Checkpoint("9"), b"nine")
    store.save("shard-1", Checkpoint("10"), b"ten")
    assert store.load("shard-1", Checkpoint("9")) == b"nine"
    assert store.load("shard-1", Checkpoint("11")) is None
    store.prune("shard-1", Checkpoint("10"))
    assert store.load("shard-1", Checkpoint("9")) is None
    assert store.load("shard-1", Checkpoint("10")) == b"ten"


def test_checkpoint_table_round_trip(provisioned):
    config, clients = provisioned
    table = CheckpointTable(clients.dynamodb, config.names.state_table, "app")
    assert table.get("shard-9") is None
    table.set("shard-9", Checkpoint("123", 4))
    assert table.get("shard-9") == Checkpoint("123", 4)


def test_large_dead_letters_keep_their_raw_bytes_in_the_bucket(provisioned):
    config, clients = provisioned
    from pipeline.aws.sinks import AwsOutputSink
    from pipeline.core.results import DeadLetter, Outcome

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
