"""Wiring: the configuration and AWS clients -> record processors and engines."""

from __future__ import annotations

from collections.abc import Callable

from consumers.lineage import StreamParents
from consumers.local_engine import LocalEngine
from consumers.processor import ShardProcessor
from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import CheckpointTable
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.sinks import AwsOutputSink
from pipeline.aws.state import SnapshotStore
from pipeline.config import Config
from pipeline.core.shard import ShardCore
from pipeline.core.windows.spec import parse_duration
from pipeline.runtime import tune_gc


def processor_factory(config: Config, clients: AwsClients) -> Callable[[], ShardProcessor]:
    """A factory of record processors sharing one sink and one state store."""
    etype = config.stream_type
    jobs = config.stream_jobs
    sink = AwsOutputSink(config, clients)
    state = SnapshotStore(clients.s3, config.names.state_bucket, config.consumer.application)
    horizon_ms = parse_duration(config.consumer.dedupe_horizon, "consumer.dedupe_horizon")
    parents = StreamParents(KinesisStream(clients.kinesis, config.names.stream))

    def make_core(shard_id: str) -> ShardCore:
        return ShardCore(
            etype,
            jobs,
            shard_id,
            dedupe_horizon_ms=horizon_ms,
            max_event_bytes=config.consumer.max_event_bytes,
        )

    def new_processor() -> ShardProcessor:
        return ShardProcessor(
            make_core, sink, state, config.consumer.checkpoint_interval_s, parents=parents
        )

    return new_processor


def local_engine(config: Config, clients: AwsClients) -> LocalEngine:
    tune_gc()
    consumer = config.consumer
    return LocalEngine(
        KinesisStream(clients.kinesis, config.names.stream),
        CheckpointTable(clients.dynamodb, config.names.state_table, consumer.application),
        processor_factory(config, clients),
        max_records=consumer.max_records,
        poll_interval_s=consumer.poll_interval_ms / 1000,
        initial_position=consumer.initial_position,
    )
