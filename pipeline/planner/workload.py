"""What the planner plans for: the load, the window jobs and the deployment's settings.

Everything is an exact decimal or an integer, so a plan is reproducible to the last digit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pipeline.config import Config
from pipeline.core.errors import ConfigError
from pipeline.planner.sizes import estimated_event_bytes

#: Events one record processor (one core) handles per second through the KCL: an assumption
#: until the KCL engine is benchmarked (the core alone measured ~100k+/s; the MultiLangDaemon's
#: JSON/base64 protocol costs more). Override with --events-per-vcpu.
DEFAULT_EVENTS_PER_VCPU = 20_000
#: Parquet bytes per JSON byte of the events table: bench/bench_parquet_ratio.py measured 0.137
#: (1,000 rows per file) to 0.075 (100,000 rows); the default errs up.
DEFAULT_PARQUET_RATIO = Decimal("0.14")


@dataclass(frozen=True)
class JobLoad:
    """A window job: one result per group per window; ``grouped`` jobs are keyed so that a
    group's events share a shard (one part per window), global ones get a part from every shard."""

    name: str
    window_s: Decimal
    groups: int
    grouped: bool
    #: ``groups`` is the upper bound (one group per event), not the user's figure
    groups_bound: bool = False


@dataclass(frozen=True)
class Workload:
    events_per_second: Decimal
    #: Bytes of one record as Kinesis meters it: data plus partition key
    event_bytes: int
    jobs: tuple[JobLoad, ...] = ()
    retention_hours: int = 24
    #: Capacity above the load: 0.25 plans for 125% of it
    headroom: Decimal = Decimal("0.25")
    #: Applications reading the stream (this pipeline's consumer is one)
    consumers: int = 1
    poll_interval_ms: int = 200
    checkpoint_interval_s: Decimal = Decimal(5)
    buffer_mib: int = 64
    buffer_seconds: int = 60
    #: The consumer packs rows into Firehose records of up to this many KiB (firehose.record_kib)
    record_kib: int = 1000
    result_item_bytes: int = 1024
    #: How long a window result stays in DynamoDB (results.retention, seconds; TTL deletes it)
    results_retention_s: int = 30 * 86_400
    events_per_vcpu: int = DEFAULT_EVENTS_PER_VCPU
    task_vcpu: Decimal = Decimal(1)
    task_memory_gib: Decimal = Decimal(2)
    #: A report reads this many hours of the events table (every column: an upper bound)
    report_hours: int = 24
    reports_per_day: int = 24
    parquet_ratio: Decimal = DEFAULT_PARQUET_RATIO

    def __post_init__(self) -> None:
        if self.events_per_second <= 0 or self.event_bytes <= 0:
            raise ConfigError("events per second and event bytes must be positive")
        if self.consumers < 1 or self.poll_interval_ms <= 0 or self.events_per_vcpu <= 0:
            raise ConfigError("consumers, poll interval and events per vCPU must be positive")

    @property
    def planned_events_per_second(self) -> Decimal:
        return self.events_per_second * (1 + self.headroom)


def job_loads(
    config: Config, events_per_second: Decimal, groups: Mapping[str, int]
) -> tuple[JobLoad, ...]:
    """The configuration's jobs on its stream's event type; a job's groups per window default to
    the upper bound ``ceil(events/s * window)`` (1 for a job without group_by)."""
    etype = config.stream_type.name
    jobs = config.stream_jobs
    unknown = sorted(set(groups) - {j.name for j in jobs})
    if unknown:
        raise ConfigError(f"--groups: no job {', '.join(unknown)} on {etype} events")
    out = []
    for job in jobs:
        window_s = Decimal(job.size_ms) / 1000
        grouped = bool(job.group_by)
        if job.name in groups:
            count, bound = groups[job.name], False
        elif grouped:
            count, bound = math.ceil(events_per_second * window_s), True
        else:
            count, bound = 1, False
        out.append(JobLoad(job.name, window_s, count, grouped, bound))
    return tuple(out)


def workload_from_config(
    config: Config,
    events_per_second: Decimal,
    event_bytes: int | None,
    groups: Mapping[str, int] | None = None,
    **overrides: object,
) -> Workload:
    """A workload with the configuration's jobs, retention, polling, checkpoint, buffers, record
    packing and results' retention;
    without ``event_bytes``, the size estimated from the stream's declared event type."""
    settings: dict[str, object] = {
        "retention_hours": config.stream.retention_hours,
        "poll_interval_ms": config.consumer.poll_interval_ms,
        "checkpoint_interval_s": Decimal(str(config.consumer.checkpoint_interval_s)),
        "buffer_mib": config.firehose.buffer_mib,
        "buffer_seconds": config.firehose.buffer_seconds,
        "record_kib": config.firehose.record_kib,
        "results_retention_s": config.results.retention_s,
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    jobs = job_loads(config, events_per_second, groups or {})
    if event_bytes is None:
        event_bytes = estimated_event_bytes(config.stream_type)
    return Workload(events_per_second, event_bytes, jobs, **settings)  # type: ignore[arg-type]
