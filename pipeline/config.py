"""Typed configuration: defaults, then a TOML file, then environment variables.

Every key can be overridden by ``PIPELINE_<SECTION>_<KEY>`` (for example
``PIPELINE_AWS_ENDPOINT_URL`` or ``PIPELINE_STREAM_SHARDS``); the file is named by ``--config`` or
``PIPELINE_CONFIG``. Credentials are never part of the configuration: boto3's standard chain
provides them, so they cannot leak into a config dump or a log line.

Event types are declared as ``[[event_types]]`` tables (see :mod:`pipeline.core.events.schema`);
a file's declarations add to the shipped ``iot`` and ``web`` types (one of the same name replaces
the shipped one). Window jobs are declared as ``[[jobs]]`` tables (see
:mod:`pipeline.core.windows.spec`); the defaults ship in ``pipeline/defaults.toml``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipeline.core.errors import ConfigError
from pipeline.core.events.schema import EventType, compile_event_types
from pipeline.core.windows.spec import WindowJob, compile_jobs

ENV_PREFIX = "PIPELINE_"


@dataclass(frozen=True)
class AwsConfig:
    """Where the AWS APIs are; an empty ``endpoint_url`` means AWS (or ``AWS_ENDPOINT_URL``)."""

    region: str = "us-east-1"
    endpoint_url: str = ""
    max_attempts: int = 8
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0


@dataclass(frozen=True)
class NamesConfig:
    """Names of every resource; ``pipeline provision`` creates them, the template deploys them."""

    stream: str = "kpipe-events"
    results_table: str = "kpipe-window-results"
    state_table: str = "kpipe-consumer-state"
    bucket: str = "kpipe-lake"
    state_bucket: str = "kpipe-consumer-state"
    glue_database: str = "kpipe"
    firehose_prefix: str = "kpipe-"
    #: Role Firehose assumes to write the bucket and read Glue (required on AWS; the emulator
    #: accepts any ARN).
    firehose_role_arn: str = ""
    #: SNS topic of alerts (``pipeline alerts``)
    alerts_topic: str = "kpipe-alerts"
    #: SQS queue the lake bucket notifies of new objects (``pipeline report --watch``)
    lake_events_queue: str = "kpipe-lake-events"


@dataclass(frozen=True)
class StreamConfig:
    """The Kinesis stream and the type of event it carries."""

    shards: int = 2
    event_type: str = "iot"
    retention_hours: int = 24


@dataclass(frozen=True)
class ConsumerConfig:
    """How the consumer reads, checkpoints and bounds its state."""

    application: str = "kpipe-consumer"
    max_records: int = 10_000
    poll_interval_ms: int = 200
    checkpoint_interval_s: float = 5.0
    initial_position: str = "TRIM_HORIZON"
    #: How long (in event time) ids are remembered for dedupe; at least lateness + window per job.
    #: Tie it to the producers' retry horizon: a copy re-sent later than this is treated as late.
    dedupe_horizon: str = "10m"
    #: Larger payloads are dead-lettered as oversized (an event's lake row must fit Firehose).
    max_event_bytes: int = 256 * 1024


@dataclass(frozen=True)
class FirehoseConfig:
    """Buffering hints of the delivery streams (AWS: 1-128 MiB, 0-900 s)."""

    buffer_mib: int = 64
    buffer_seconds: int = 60


@dataclass(frozen=True)
class KclConfig:
    """The KCL engine (``pipeline consume --engine kcl``): MultiLangDaemon settings and jars.

    Validated when the daemon's properties are written (:mod:`consumers.kcl.properties`).
    """

    #: POLLING (GetRecords, the default) or FANOUT: enhanced fan-out costs per shard-hour and
    #: per GB, so it is an explicit opt-in (KCL 2+ defaults to it).
    retrieval_mode: str = "POLLING"
    #: The KCL's own CloudWatch metrics: NONE, SUMMARY or DETAILED (the pipeline's per-shard
    #: metrics are served by ``--metrics-port`` whatever this says).
    metrics_level: str = "NONE"
    failover_ms: int = 10_000
    shard_sync_interval_ms: int = 60_000
    parent_poll_ms: int = 10_000
    #: How long a SIGTERM leaves the daemon to stop (``shutdown_requested`` writes the last
    #: checkpoint first); the KCL worker (2.x and 3.x) needs about ``failover_ms`` of it to finish.
    shutdown_grace_ms: int = 15_000
    max_leases_to_steal: int = 1
    #: The daemon's AWSCredentialsProvider: an AWS SDK for Java v2 class name for KCL 3 (KCL 2.x
    #: needs a v1 name, e.g. DefaultAWSCredentialsProviderChain)
    credentials_provider: str = "DefaultCredentialsProvider"
    java: str = "java"
    java_options: tuple[str, ...] = ()
    #: Empty: the jars of the installed ``amazon_kclpy`` package.
    jar_dir: str = ""
    #: A shipped manifest name (``kcl-3.1.3``; ``kcl-2.5.8`` for the 2.x jar set), a path to a
    #: ``sha256sum`` file, or empty to skip verification (a connected install of the official
    #: package).
    jar_manifest: str = "kcl-3.1.3"


@dataclass(frozen=True)
class JobConfig:
    """One declared window job, as written in the TOML file (validated by windows.spec)."""

    name: str
    source: str
    window: str
    lateness: str = "0s"
    group_by: tuple[str, ...] = ()
    metrics: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertConfig:
    """One declared alert rule on a job's window results (validated by pipeline.alerts.rules)."""

    name: str
    job: str
    when: str


@dataclass(frozen=True)
class Config:
    """The whole configuration; build it with :func:`load_config`."""

    aws: AwsConfig = field(default_factory=AwsConfig)
    names: NamesConfig = field(default_factory=NamesConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)
    firehose: FirehoseConfig = field(default_factory=FirehoseConfig)
    kcl: KclConfig = field(default_factory=KclConfig)
    #: ``[[event_types]]`` declarations as written (compiled and checked by :attr:`types`)
    event_types: tuple[Mapping[str, Any], ...] = ()
    jobs: tuple[JobConfig, ...] = ()
    alerts: tuple[AlertConfig, ...] = ()

    def with_endpoint(self, endpoint_url: str) -> Config:
        """The same configuration pointed at another endpoint (the embedded emulator)."""
        return dataclasses.replace(
            self, aws=dataclasses.replace(self.aws, endpoint_url=endpoint_url)
        )

    @cached_property
    def types(self) -> Mapping[str, EventType]:
        """Every declared event type by name (compiled once)."""
        return MappingProxyType(compile_event_types(self.event_types))

    @property
    def stream_type(self) -> EventType:
        """The event type the stream carries (``stream.event_type``)."""
        try:
            return self.types[self.stream.event_type]
        except KeyError:
            known = ", ".join(sorted(self.types))
            raise ConfigError(
                f"stream.event_type: unknown event type {self.stream.event_type!r} "
                f"(declared: {known})"
            ) from None

    @cached_property
    def window_jobs(self) -> tuple[WindowJob, ...]:
        """Every declared job, compiled against the declared event types."""
        return compile_jobs(self.jobs, self.types, self.stream.retention_hours * 3_600_000)

    def jobs_for(self, source: str) -> tuple[WindowJob, ...]:
        """The declared jobs that read events of type ``source``."""
        return tuple(job for job in self.window_jobs if job.etype.name == source)

    @property
    def stream_jobs(self) -> tuple[WindowJob, ...]:
        """The jobs that read the stream's event type (the consumer runs these)."""
        return self.jobs_for(self.stream_type.name)


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load defaults, then ``path`` (or ``$PIPELINE_CONFIG``), then ``PIPELINE_*`` variables.

    Raises :class:`ConfigError` naming the offending key for unknown keys and bad values.
    """
    env = os.environ if env is None else env
    data = _read_toml_text(
        resources.files("pipeline").joinpath("defaults.toml").read_text(), "defaults"
    )
    path = path or env.get("PIPELINE_CONFIG")
    if path:
        file_path = Path(path)
        if not file_path.is_file():
            raise ConfigError(f"config file not found: {file_path}")
        user = _read_toml_text(file_path.read_text(encoding="utf-8"), str(file_path))
        declared = {key: user.pop(key) for key in ("jobs", "alerts") if key in user}
        data["event_types"] = _by_name(data.get("event_types", []), user.pop("event_types", []))
        data = _merge(data, user)
        # a file that declares jobs (or alerts) replaces the default ones entirely; default
        # alerts on default jobs it dropped go with them
        if "jobs" in declared and "alerts" not in declared:
            names = {job.get("name") for job in declared["jobs"] if isinstance(job, dict)}
            declared["alerts"] = [a for a in data.get("alerts", []) if a.get("job") in names]
        data.update(declared)
    data = _merge(data, _env_overrides(env))
    config = _build(Config, data, "")
    config.stream_type  # noqa: B018 - validates the declarations and the stream's type
    config.window_jobs  # noqa: B018 - validates the jobs against the declared types
    return config


@functools.cache
def shipped_types() -> Mapping[str, EventType]:
    """The shipped event types (``iot``, ``web``) as ``pipeline/defaults.toml`` declares them."""
    return load_config(env={}).types


def shipped_event_type(name: str) -> EventType:
    return shipped_types()[name]


def _by_name(shipped: list[Any], declared: list[Any]) -> list[Any]:
    """Declarations that replace the shipped ones of the same name, then the new ones."""
    if not isinstance(declared, list):
        raise ConfigError("event_types: declare each type as an [[event_types]] table")
    names = {d.get("name") for d in declared if isinstance(d, dict)}
    return [d for d in shipped if d.get("name") not in names] + declared


def _read_toml_text(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from exc


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """``PIPELINE_SECTION_KEY=value`` -> ``{"section": {"key": "value"}}`` for known sections."""
    tables = ("event_types", "jobs", "alerts")
    sections = {f.name for f in dataclasses.fields(Config) if f.name not in tables}
    out: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == "PIPELINE_CONFIG":
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section in sections and key:
            out.setdefault(section, {})[key] = value
    return out


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {', '.join(unknown)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}" if where else name)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"{where or 'config'}: {exc}") from exc


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        if typing.get_args(hint)[1] is Any:  # checked by its own compiler (event types)
            return MappingProxyType(dict(value))
        return MappingProxyType({str(k): str(v) for k, v in value.items()})
    if hint is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}") from None
        if number < 0:
            raise ConfigError(f"{where}: must not be negative, got {value!r}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {hint}")  # pragma: no cover - programming error
