"""Wiring: the configuration and AWS clients -> record processors and engines."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from consumers.lineage import StreamParents
from consumers.local_engine import LocalEngine
from consumers.processor import ShardProcessor
from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import CheckpointTable, ProgressTable
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.sinks import AwsOutputSink
from pipeline.aws.state import SnapshotStore
from pipeline.config import Config
from pipeline.core.errors import ConfigError
from pipeline.core.shard import ShardCore, ShardSettings
from pipeline.core.times import parse_duration
from pipeline.runtime import tune_gc


def processor_factory(config: Config, clients: AwsClients) -> Callable[[], ShardProcessor]:
    """A factory of record processors sharing one sink and one state store."""
    etype = config.stream_type
    jobs = config.stream_jobs
    sink = AwsOutputSink(config, clients)
    state = SnapshotStore(clients.s3, config.names.state_bucket, config.consumer.application)
    settings = shard_settings(config)
    parents = StreamParents(KinesisStream(clients.kinesis, config.names.stream))
    progress = ProgressTable(
        clients.dynamodb, config.names.state_table, config.consumer.application
    )

    def make_core(shard_id: str) -> ShardCore:
        return ShardCore(etype, jobs, shard_id, settings)

    def new_processor() -> ShardProcessor:
        return ShardProcessor(
            make_core,
            sink,
            state,
            config.consumer.checkpoint_interval_s,
            parents=parents,
            progress=progress,
        )

    return new_processor


def shard_settings(config: Config) -> ShardSettings:
    """The core's settings from ``consumer.*`` (durations parsed; ``0`` turns a timeout off)."""
    consumer = config.consumer

    def duration(key: str) -> int | None:
        text = getattr(consumer, key).strip()
        if text in ("", "0"):
            return None
        return parse_duration(text, f"consumer.{key}")

    unknown = set(consumer.restart_jobs) - {job.name for job in config.stream_jobs}
    if unknown:
        raise ConfigError(f"consumer.restart_jobs: no job {', '.join(sorted(unknown))}")
    return ShardSettings(
        dedupe_horizon_ms=duration("dedupe_horizon"),
        max_event_bytes=consumer.max_event_bytes,
        max_future_skew_ms=duration("max_future_skew") or 0,
        max_event_age_ms=duration("max_event_age"),
        idle_timeout_ms=duration("idle_timeout") or 0,
        control_records=consumer.control_records,
        restart_jobs=frozenset(consumer.restart_jobs),
    )


def bounded(config: Config) -> Config:
    """``config`` for a bounded run (until every shard's end-of-stream marker): control records
    honoured."""
    consumer = dataclasses.replace(config.consumer, control_records=True)
    return dataclasses.replace(config, consumer=consumer)


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
