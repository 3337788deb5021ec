"""Delivery on the emulator: every record lands as the truth labels it, under injected partial
failures and throttling; KPL aggregation read back by ours and aws-kinesis-agg; the CLI; bad
input."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import Counter
from dataclasses import replace

import pytest
from aws_kinesis_agg.deaggregator import deaggregate_records
from botocore.exceptions import ClientError
from click.testing import CliRunner

from pipeline.aws.clients import AwsClients
from pipeline.aws.kinesis import KinesisStream
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.core.errors import ResourceMissingError
from pipeline.core.records import RawRecord
from pipeline.emulator import set_faults
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions, outgoing, produce
from producers.shards import ShardMap
from producers.truth import read_truth
from tests.producers.outcomes import consumed, expected

pytestmark = pytest.mark.emulator

CHAOS = ChaosOptions(duplicates=0.04, out_of_order=0.05, late=0.03, malformed=0.03, hot_keys=0.02)


@pytest.fixture
def stream(emulator, name):
    config = load_config(env={}).with_endpoint(emulator.endpoint_url)
    clients = AwsClients(config.aws)
    clients.kinesis.create_stream(StreamName=name, ShardCount=2)
    yield clients
    set_faults(emulator.endpoint_url, None)


def read_back(clients: AwsClients, stream_name: str) -> dict[str, list[RawRecord]]:
    """Every shard's records in order, as stored (aggregates not unpacked)."""
    kinesis = KinesisStream(clients.kinesis, stream_name)
    out = {}
    for shard in kinesis.shards():
        iterator = clients.kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = clients.kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
        out[shard.shard_id] = [
            RawRecord(r["Data"], r["PartitionKey"], r["SequenceNumber"]) for r in records
        ]
    return out


@pytest.mark.slow
def test_every_record_lands_as_labelled_despite_partial_failures_and_throttling(
    emulator, stream, name, tmp_path
):
    set_faults(
        emulator.endpoint_url,
        {
            "seed": 3,
            "rules": [
                {"service": "kinesis", "operation": "PutRecords", "kind": "partial", "rate": 0.3},
                {"service": "kinesis", "operation": "PutRecords", "kind": "throttle", "rate": 0.05},
            ],
        },
    )
    options = ProduceOptions(
        devices=20, minutes=8, seed=9, chaos=CHAOS, truth=tmp_path / "t.jsonl", end_of_stream=True
    )
    # backoff pauses a tenth as long (the budgets still follow the real clock)
    stats = produce(options, stream.kinesis, name, sleep=lambda s: time.sleep(s / 10))
    faults = set_faults(emulator.endpoint_url, None)
    assert faults["kinesis.PutRecords.partial"] > 10 and faults["kinesis.PutRecords.throttle"] > 0
    assert stats.retried_entries > 50
    truth = read_truth(tmp_path / "t.jsonl")
    shard_map = ShardMap(KinesisStream(stream.kinesis, name).shards())
    got = {shard: consumed("iot", shard, rs) for shard, rs in read_back(stream, name).items()}
    assert got == expected(truth, shard_map)  # each record, in shard order, as labelled
    assert sum(map(len, got.values())) == len(truth) == stats.user_records


def test_aggregated_records_read_back_as_the_user_records_by_both_deaggregators(
    stream, name, tmp_path
):
    options = ProduceOptions(
        devices=40,
        minutes=10,
        seed=2,
        aggregate=True,
        chaos=replace(CHAOS, malformed=0.0),  # oversized records would take seconds of budget
        truth=tmp_path / "t.jsonl",
    )
    stats = produce(options, stream.kinesis, name)
    truth = read_truth(tmp_path / "t.jsonl")
    assert stats.user_records == len(truth) and stats.records < len(truth) / 50
    ours = [r for records in read_back(stream, name).values() for r in records]
    kinesis = KinesisStream(stream.kinesis, name)  # our reader de-aggregates
    unpacked = []
    for shard in kinesis.shards():
        iterator = kinesis.iterator(shard.shard_id, None, "TRIM_HORIZON")
        unpacked += kinesis.read(iterator, 10_000).records
    assert Counter(r.data for r in unpacked) == Counter(line["data"] for line in truth)
    assert max(r.sub_sequence_number for r in unpacked) > 50  # many user records per record
    theirs = deaggregate_records(
        [
            {
                "kinesis": {
                    "data": base64.b64encode(r.data).decode(),
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "approximateArrivalTimestamp": 0,
                    "kinesisSchemaVersion": "1.0",
                }
            }
            for r in ours
        ]
    )
    assert Counter(base64.b64decode(r["kinesis"]["data"]) for r in theirs) == Counter(
        line["data"] for line in truth
    )


ENV = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


def test_bad_arguments_fail_with_one_clear_message_before_anything_is_sent(emulator, stream, name):
    runner = CliRunner()
    base = ["--endpoint-url", emulator.endpoint_url, "produce", "iot"]
    env = {**ENV, "PIPELINE_NAMES_STREAM": name}
    cases = {
        ("--rate", "-5"): "--rate must be positive",
        ("--rate", "1800"): "exceeds what the stream's 2 shard(s) take within their limits",
        ("--late", "1.5"): "--late must be a rate between 0 and 1",
        ("--out-of-order", "0.1", "--max-disorder", "40s"): "must be below --lateness",
        ("--duration", "ten minutes"): "is not a duration",
        ("--count", "0"): "--count must be positive",
    }
    for args, message in cases.items():
        result = runner.invoke(main, [*base, *args], env=env)
        assert result.exit_code == 1, result.output
        assert result.output.count("Error") == 1 and message in result.output, result.output
    result = runner.invoke(
        main, [*base, "--minutes", "1"], env={**env, "PIPELINE_NAMES_STREAM": "nope"}
    )
    assert result.exit_code == 1 and "Kinesis stream 'nope' does not exist" in result.output
    stored = read_back(stream, name)
    assert len(stored) == 2 and not any(stored.values())  # nothing was sent


def test_the_cli_reads_its_options_from_the_environment_and_prints_json(emulator, stream, name):
    env = {**ENV, "PIPELINE_NAMES_STREAM": name, "PIPELINE_PRODUCE_WEB_SEED": "3"}
    args = ["--endpoint-url", emulator.endpoint_url, "produce", "web", "--count", "700", "--json"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["user_records"] == figures["records"] == 700 and figures["records_per_s"] > 0
    sent = Counter(r.data for r in outgoing(ProduceOptions(source="web", count=700, seed=3)))
    stored = Counter(r.data for rs in read_back(stream, name).values() for r in rs)
    assert stored == sent


def test_to_file_needs_no_stream_and_is_byte_identical_for_a_seed(tmp_path):
    runner = CliRunner()
    digests = []
    for run in ("a", "b"):
        path = tmp_path / f"{run}.ndjson"
        args = ["produce", "iot", "--count", "5000", "--seed", "8", "--malformed", "0.02"]
        result = runner.invoke(main, [*args, "--to-file", str(path)], env=ENV)
        assert result.exit_code == 0 and "wrote 5000 records" in result.output, result.output
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


class VanishingStream:
    """Answers like Kinesis until the stream is deleted after ``calls`` PutRecords."""

    def __init__(self, client, calls):
        self.client, self.calls = client, calls

    def __getattr__(self, attribute):
        return getattr(self.client, attribute)

    def put_records(self, **kwargs):
        self.calls -= 1
        if self.calls < 0:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "PutRecords"
            )
        return self.client.put_records(**kwargs)


def test_a_stream_that_disappears_mid_run_ends_with_what_was_and_was_not_delivered(stream, name):
    with pytest.raises(ResourceMissingError, match=r"delivered (\d+), undelivered (\d+)") as err:
        produce(
            ProduceOptions(devices=50, minutes=10, seed=1), VanishingStream(stream.kinesis, 2), name
        )
    delivered = int(str(err.value).split("delivered ")[1].split(",")[0])
    assert delivered == sum(map(len, read_back(stream, name).values())) > 0


@pytest.mark.slow
def test_produce_file_delivers_every_line_once_despite_partial_failures_and_throttling(
    emulator, stream, name, tmp_path
):
    lines = [
        json.dumps(
            {
                "event_id": f"e{i}",
                "device_id": f"dev-{i % 37:03d}",
                "device_type": "meter",
                "site": "site-01",
                "ts": 1_767_225_600_000 + i * 250,
            }
        ).encode()
        for i in range(4000)
    ]
    lines[10] = b"not json"
    lines[20] = b'{"event_id": "no device"}'
    source = tmp_path / "records.ndjson"
    source.write_bytes(b"\n".join(lines) + b"\n\n")
    set_faults(
        emulator.endpoint_url,
        {
            "seed": 5,
            "rules": [
                {"service": "kinesis", "operation": "PutRecords", "kind": "partial", "rate": 0.3},
                {"service": "kinesis", "operation": "PutRecords", "kind": "throttle", "rate": 0.05},
            ],
        },
    )
    args = ["--endpoint-url", emulator.endpoint_url, "produce", "file", str(source), "--json"]
    args += ["--truth", str(tmp_path / "t.jsonl")]
    result = CliRunner().invoke(main, args, env={**ENV, "PIPELINE_NAMES_STREAM": name})
    faults = set_faults(emulator.endpoint_url, None)
    assert result.exit_code == 0, result.output
    assert faults["kinesis.PutRecords.partial"] > 3 and faults["kinesis.PutRecords.throttle"] > 0
    figures = json.loads(result.output)
    assert figures["retried_entries"] > 0 and figures["failed"] == 0
    assert (figures["records"], figures["not_json"], figures["no_key"]) == (4000, 1, 1)
    assert figures["blank"] == 1
    truth = read_truth(tmp_path / "t.jsonl")
    stored = read_back(stream, name)
    assert Counter(line["data"] for line in truth) == Counter(lines)  # in delivery order
    assert Counter(r.data for rs in stored.values() for r in rs) == Counter(lines)  # each once
    keys = {r.data: r.partition_key for rs in stored.values() for r in rs}
    assert keys[lines[0]] == "dev-000" and keys[lines[10]] == "line-11"
    assert keys[lines[20]] == "line-21"  # no device_id: keyed by its line
