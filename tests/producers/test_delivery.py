"""Delivery on the emulator: every record exactly once as the truth says, under injected partial
failures and throttling; KPL aggregation read back by ours and aws-kinesis-agg; bad input."""

from __future__ import annotations

import base64
import json
from collections import Counter

import pytest
from aws_kinesis_agg.deaggregator import deaggregate_records
from botocore.exceptions import ClientError
from click.testing import CliRunner

from pipeline.aws.clients import AwsClients
from pipeline.aws.kinesis import KinesisStream
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.emulator import set_faults
from pipeline.errors import ResourceMissingError
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions, produce
from producers.truth import read_truth

pytestmark = pytest.mark.emulator


@pytest.fixture
def stream(emulator, name):
    config = load_config(env={}).with_endpoint(emulator.endpoint_url)
    clients = AwsClients(config.aws)
    clients.kinesis.create_stream(StreamName=name, ShardCount=2)
    yield clients
    set_faults(emulator.endpoint_url, None)


def read_back(clients, stream_name, raw=False):
    kinesis = KinesisStream(clients.kinesis, stream_name)
    out = []
    for shard in kinesis.shards():
        iterator = clients.kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        response = clients.kinesis.get_records(ShardIterator=iterator, Limit=10_000)
        out += response["Records"] if raw else kinesis.read(iterator, 10_000).records
    return out


def test_partial_failures_and_throttling_deliver_every_record_exactly_once(
    emulator, stream, name, tmp_path
):
    set_faults(
        emulator.endpoint_url,
        {
            "seed": 3,
            "rules": [
                {"service": "kinesis", "operation": "PutRecords", "kind": "partial", "rate": 0.3},
                {"service": "kinesis", "operation": "PutRecords", "kind": "throttle", "rate": 0.1},
            ],
        },
    )
    options = ProduceOptions(
        devices=30,
        minutes=10,
        seed=9,
        truth=tmp_path / "t.jsonl",
        chaos=ChaosOptions(duplicates=0.05, malformed=0.02),
    )
    stats = produce(options, stream.kinesis, name)
    faults = set_faults(emulator.endpoint_url, None)
    assert (
        faults["kinesis.PutRecords.partial"] > 100
        and stats.retried_entries >= faults["kinesis.PutRecords.partial"]
    )
    truth = read_truth(tmp_path / "t.jsonl")
    assert Counter(r.data for r in read_back(stream, name)) == Counter(
        line["data"] for line in truth
    )


def test_aggregated_records_read_back_as_the_user_records_by_both_deaggregators(
    stream, name, tmp_path
):
    options = ProduceOptions(
        devices=40, minutes=10, seed=2, aggregate=True, truth=tmp_path / "t.jsonl"
    )
    stats = produce(options, stream.kinesis, name)
    truth = read_truth(tmp_path / "t.jsonl")
    assert stats.user_records == len(truth) and stats.records < len(truth) / 50
    ours = read_back(stream, name)
    assert Counter(r.data for r in ours) == Counter(line["data"] for line in truth)
    assert max(r.sub_sequence_number for r in ours) > 50  # many user records per Kinesis record
    raw = read_back(stream, name, raw=True)
    theirs = deaggregate_records(
        [
            {
                "kinesis": {
                    "data": base64.b64encode(r["Data"]).decode(),
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "approximateArrivalTimestamp": 0,
                    "kinesisSchemaVersion": "1.0",
                }
            }
            for r in raw
        ]
    )
    assert Counter(base64.b64decode(r["kinesis"]["data"]) for r in theirs) == Counter(
        line["data"] for line in truth
    )


def test_bad_arguments_fail_before_anything_is_sent(emulator, stream, name):
    runner = CliRunner()
    base = ["--endpoint-url", emulator.endpoint_url, "produce", "iot"]
    env = {"PIPELINE_NAMES_STREAM": name, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    cases = {
        ("--rate", "-5"): "--rate must be positive",
        ("--rate", "50000"): "exceeds the stream's 2 shard(s)",
        ("--late", "1.5"): "--late must be a rate between 0 and 1",
        ("--duration", "ten minutes"): "is not a duration",
    }
    for args, message in cases.items():
        result = runner.invoke(main, [*base, *args], env=env)
        assert result.exit_code in (1, 2), result.output
        assert message in result.output, result.output
    result = runner.invoke(
        main, [*base, "--minutes", "1"], env={**env, "PIPELINE_NAMES_STREAM": "no-such-stream"}
    )
    assert result.exit_code == 1 and "does not exist" in result.output
    assert read_back(stream, name) == []  # nothing was sent by any of them


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
    with pytest.raises(
        ResourceMissingError, match=r"delivered 1000, undelivered 500 of this batch"
    ):
        produce(
            ProduceOptions(devices=50, minutes=10, seed=1), VanishingStream(stream.kinesis, 2), name
        )
    _ = json
