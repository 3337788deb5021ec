"""Typed configuration: defaults, then a TOML file, then environment variables.

Every key can be overridden by ``PIPELINE_<SECTION>_<KEY>`` (for example
``PIPELINE_AWS_ENDPOINT_URL`` or ``PIPELINE_STREAM_SHARDS``); the file is named by ``--config`` or
``PIPELINE_CONFIG``. Credentials are never part of the configuration: boto3's standard chain
provides them, so they cannot leak into a config dump or a log line.

Variables are matched against the known sections and keys only: the command line's own
``PIPELINE_<COMMAND>_<OPTION>`` variables (``PIPELINE_KCL_PROPERTIES_WORKER_ID``) share the
prefix, so the loader is told their names and leaves them to click; any other unknown
``PIPELINE_<SECTION>_...`` variable is an error naming both readings. A setting's allowed
values are declared on its field (:func:`setting`) and checked at load, one line naming the key;
:func:`effective_config` also says where each value came from (default, file, environment).

Event types are declared as ``[[event_types]]`` tables (see :mod:`pipeline.core.events.schema`);
a file's declarations add to the shipped ``iot`` and ``web`` types (one of the same name replaces
the shipped one). Window jobs are declared as ``[[jobs]]`` tables (see
:mod:`pipeline.core.windows.spec`); the defaults ship in ``pipeline/defaults.toml``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tomllib
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipeline.core.errors import ConfigError
from pipeline.core.events.schema import EventType, compile_event_types
from pipeline.core.times import parse_duration
from pipeline.core.windows.spec import WindowJob, compile_jobs

ENV_PREFIX = "PIPELINE_"
CONFIG_VARIABLE = "PIPELINE_CONFIG"
#: The sections that are arrays of tables (declarations), not ``PIPELINE_*`` settings
TABLES = ("event_types", "jobs", "alerts")


@dataclass(frozen=True)
class Bounds:
    """A setting's allowed values (field metadata, see :func:`setting`): a number's range, a
    duration's (``duration``: ``low`` and ``high`` are durations too), or choices."""

    low: float | str | None = None
    high: float | str | None = None
    unit: str = ""
    duration: bool = False
    choices: tuple[str, ...] = ()
    #: values that turn the setting off (an empty duration: no limit)
    off: tuple[str, ...] = ()

    def check(self, value: Any, where: str) -> None:
        """Raise :class:`ConfigError` naming ``where`` if ``value`` is not allowed."""
        if value in self.off:
            return
        if self.choices and value not in self.choices:
            raise ConfigError(f"{where}: must be one of {', '.join(self.choices)}, got {value!r}")
        number, low, high = value, self.low, self.high
        if self.duration:
            number = parse_duration(value, where)
            low, high = (None if b is None else parse_duration(b, where) for b in (low, high))
        unit = f" {self.unit}" if self.unit else ""
        if low is not None and high is not None and not low <= number <= high:
            raise ConfigError(
                f"{where}: must be between {self.low} and {self.high}{unit}, got {value!r}"
            )
        if low is not None and number < low:
            raise ConfigError(f"{where}: must be at least {self.low}{unit}, got {value!r}")
        if high is not None and number > high:
            raise ConfigError(f"{where}: must be at most {self.high}{unit}, got {value!r}")


def setting(default: Any, **bounds: Any) -> Any:
    """A field, its default and its allowed values (:class:`Bounds`), checked at load:
    ``shards: int = setting(2, low=1)``. A number without bounds must not be negative."""
    return field(default=default, metadata={"bounds": Bounds(**bounds)})


@dataclass(frozen=True)
class AwsConfig:
    """Where the AWS APIs are; an empty ``endpoint_url`` means AWS (or ``AWS_ENDPOINT_URL``)."""

    region: str = "us-east-1"
    endpoint_url: str = ""
    max_attempts: int = setting(8, low=1, high=100)
    connect_timeout_s: float = setting(5.0, low=0.1, high=600, unit="s")
    read_timeout_s: float = setting(30.0, low=0.1, high=3600, unit="s")


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

    shards: int = setting(2, low=1)
    event_type: str = "iot"
    #: Kinesis keeps records 24 hours to 365 days
    retention_hours: int = setting(24, low=24, high=8760, unit="hours")


@dataclass(frozen=True)
class ConsumerConfig:
    """How the consumer reads, checkpoints and bounds its state."""

    application: str = "kpipe-consumer"
    #: Records per GetRecords call (Kinesis: at most 10,000)
    max_records: int = setting(10_000, low=1, high=10_000)
    poll_interval_ms: int = setting(200, high=60_000, unit="ms")
    checkpoint_interval_s: float = 5.0
    initial_position: str = setting("TRIM_HORIZON", choices=("TRIM_HORIZON", "LATEST"))
    #: How long (in event time) ids are remembered for dedupe; at least lateness + window per job.
    #: Tie it to the producers' retry horizon: a copy re-sent later than this is treated as late.
    dedupe_horizon: str = setting("10m", duration=True)
    #: Larger payloads are dead-lettered as oversized (an event's lake row must fit Firehose).
    max_event_bytes: int = setting(256 * 1024, low=1)
    #: An event more than this ahead of its record's arrival time (a device clock gone wrong)
    #: is dead-lettered and never moves the watermark.
    max_future_skew: str = setting("5m", duration=True)
    #: An event more than this behind its record's arrival is dead-lettered (empty: any age).
    max_event_age: str = setting("", duration=True, off=("", "0"))
    #: A shard with no new record for this long advances its watermark with the wall clock,
    #: so its last windows close (0: never; then only new events or end-of-stream close them).
    idle_timeout: str = setting("60s", duration=True, off=("0",))
    #: Honour end-of-stream control records. Off in production: anyone who can write to the
    #: stream could end a shard. Bounded runs (--until-end-of-stream, demo, chaos) turn it on.
    control_records: bool = False
    #: Jobs to start afresh from the checkpoint after their definition changed (their open
    #: windows are dropped and counted); has no effect on an unchanged job.
    restart_jobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class FirehoseConfig:
    """Buffering hints of the delivery streams (AWS: 1-128 MiB, 0-900 s), and how many KiB of
    rows the consumer packs into one Firehose record (1-1000: Firehose bills each record rounded
    up to 5 KiB, so one row per record would bill ~12 times a 400-byte row's size)."""

    buffer_mib: int = setting(64, low=1, high=128, unit="MiB")
    buffer_seconds: int = setting(60, low=0, high=900, unit="s")
    record_kib: int = setting(1000, low=1, high=1000, unit="KiB")


@dataclass(frozen=True)
class ResultsConfig:
    """Window results in DynamoDB: each write sets ``expires_at`` to its time plus
    ``retention``, and the table's TTL deletes the item after that (usually within days)."""

    retention: str = setting("30d", duration=True, low="1s")

    @property
    def retention_s(self) -> int:
        """``retention`` in seconds."""
        return parse_duration(self.retention, "results.retention") // 1000


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
    #: KCL 3's leader moves leases off a worker whose load is more than this many percent from
    #: the fleet's average (KCL's default, 10). Load is CPU on EC2, ECS and EKS, and lease
    #: throughput elsewhere: on a quiet or bursty stream that throughput is noise and leases move
    #: back and forth (each move restarts a shard's processor); a higher value moves fewer. It
    #: never delays failover: expired and unowned leases are assigned whatever it says.
    rebalance_threshold_percent: int = setting(10, low=1, high=10_000, unit="%")
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
class MetricsConfig:
    """The pipeline's own metrics besides Prometheus' ``--metrics-port``: CloudWatch embedded
    metric format (EMF) lines, which ECS's awslogs driver turns into CloudWatch metrics."""

    #: The consumer logs its per-shard figures as EMF JSON lines on stderr
    emf: bool = False
    #: The CloudWatch namespace of those metrics
    emf_namespace: str = "kpipe"
    #: At most one line per shard this often
    emf_interval_s: float = setting(60.0, low=1, high=3600, unit="s")


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
    results: ResultsConfig = field(default_factory=ResultsConfig)
    kcl: KclConfig = field(default_factory=KclConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
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


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    option_variables: Collection[str] = (),
) -> Config:
    """Load defaults, then ``path`` (or ``$PIPELINE_CONFIG``), then ``PIPELINE_*`` variables.

    ``option_variables`` are the command line's own variables (left to click). Raises
    :class:`ConfigError` naming the offending key for unknown keys and bad values.
    """
    return effective_config(path, env, option_variables)[0]


def effective_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    option_variables: Collection[str] = (),
) -> tuple[Config, dict[str, str]]:
    """:func:`load_config`, and where each value came from: ``"default"``, ``"file PATH"`` or
    ``"env NAME"`` by ``section.key`` (declarations: ``jobs.NAME`` and the like)."""
    env = os.environ if env is None else env
    data = _read_toml_text(
        resources.files("pipeline").joinpath("defaults.toml").read_text(), "defaults"
    )
    sources = dict.fromkeys((f"{s}.{k}" for s, k in setting_keys()), "default")
    path = path or env.get(CONFIG_VARIABLE)
    declared: set[int] = set()  # ids of the file's declarations
    if path:
        data = _with_file(data, Path(path), sources, declared)
    overrides = _env_overrides(env, option_variables)
    for section, keys in overrides.items():
        sources.update({f"{section}.{key}": f"env {variable(section, key)}" for key in keys})
    data = _merge(data, overrides)
    for table in TABLES:
        for item in data.get(table, []):
            name = item.get("name") if isinstance(item, dict) else None
            sources[f"{table}.{name}"] = f"file {path}" if id(item) in declared else "default"
    config = _build(Config, data, "")
    config.stream_type  # noqa: B018 - validates the declarations and the stream's type
    config.window_jobs  # noqa: B018 - validates the jobs against the declared types
    return config, sources


def setting_keys() -> list[tuple[str, str]]:
    """Every ``(section, key)`` a file or a ``PIPELINE_SECTION_KEY`` variable can set."""
    hints = typing.get_type_hints(Config)
    return [
        (section.name, key.name)
        for section in dataclasses.fields(Config)
        if section.name not in TABLES
        for key in dataclasses.fields(hints[section.name])
    ]


def variable(section: str, key: str) -> str:
    """The environment variable of a setting: ``PIPELINE_STREAM_SHARDS``."""
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def _with_file(
    data: dict[str, Any], file_path: Path, sources: dict[str, str], declared: set[int]
) -> dict[str, Any]:
    """``data`` with the file's settings and declarations (their sources and ids noted)."""
    if not file_path.is_file():
        raise ConfigError(f"config file not found: {file_path}")
    user = _read_toml_text(file_path.read_text(encoding="utf-8"), str(file_path))
    for section, table in user.items():
        if section in TABLES:
            declared.update(id(item) for item in table if isinstance(table, list))
        elif isinstance(table, dict):
            sources.update({f"{section}.{key}": f"file {file_path}" for key in table})
    tables = {key: user.pop(key) for key in ("jobs", "alerts") if key in user}
    data["event_types"] = _by_name(data.get("event_types", []), user.pop("event_types", []))
    data = _merge(data, user)
    # a file that declares jobs (or alerts) replaces the default ones entirely; default
    # alerts on default jobs it dropped go with them
    if "jobs" in tables and "alerts" not in tables:
        names = {job.get("name") for job in tables["jobs"] if isinstance(job, dict)}
        tables["alerts"] = [a for a in data.get("alerts", []) if a.get("job") in names]
    data.update(tables)
    return data


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


def _env_overrides(env: Mapping[str, str], option_variables: Collection[str]) -> dict[str, Any]:
    """``PIPELINE_SECTION_KEY=value`` -> ``{"section": {"key": "value"}}`` for known keys.

    A variable under a section's prefix that is no setting and no command option's variable
    (``option_variables``) is a typo: an error naming both readings (not its value)."""
    known = {variable(section, key): (section, key) for section, key in setting_keys()}
    out: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if name in known:
            section, key = known[name]
            out.setdefault(section, {})[key] = value
            continue
        if name == CONFIG_VARIABLE or name in option_variables:
            continue
        for section in {section for section, _ in known.values()}:
            prefix = f"{ENV_PREFIX}{section.upper()}_"
            if name.startswith(prefix):
                key = name[len(prefix) :].lower()
                keys = ", ".join(k for s, k in known.values() if s == section)
                raise ConfigError(
                    f"{name}: neither a setting ([{section}] has no key {key!r}; its keys: "
                    f"{keys}) nor a command option's variable (PIPELINE_<COMMAND>_<OPTION>)"
                )
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
        key = f"{where}.{name}" if where else name
        kwargs[name] = _coerce(hints[name], value, key)
        bounds = fields[name].metadata.get("bounds")
        if bounds is not None:
            bounds.check(kwargs[name], key)
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
        if not math.isfinite(number):
            raise ConfigError(f"{where}: must be a finite number, got {value!r}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {hint}")  # pragma: no cover - programming error
