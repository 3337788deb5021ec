"""The MultiLangDaemon's properties file, and the child processes' configuration file.

Everything comes from the pipeline's configuration: stream, application (also the KCL's lease
table), region, endpoints (Kinesis and DynamoDB; the KCL has no CloudWatch endpoint property, so
its own metrics stay off by default), retrieval mode (POLLING unless enhanced fan-out is chosen
explicitly), metrics level, failover, shard-sync, parent-poll and shutdown-grace times, initial
position. ``shutdownGraceMillis`` must not be 0: with the KCL's default 0, a SIGTERM never
reaches ``shutdown_requested`` and the last checkpoint is lost.

The children are started by the daemon, not by us: they read the effective configuration from
a TOML file the launcher writes (:func:`config_toml`), so a configuration built in code (say,
pointed at an embedded emulator) reaches them unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from typing import Any

from pipeline.config import Config
from pipeline.core.errors import ConfigError

MAIN_CLASS = "software.amazon.kinesis.multilang.MultiLangDaemon"
RETRIEVAL_MODES = ("POLLING", "FANOUT")
METRICS_LEVELS = ("NONE", "SUMMARY", "DETAILED")
INITIAL_POSITIONS = ("TRIM_HORIZON", "LATEST")
MAX_RECORDS = 10_000  # GetRecords' limit


def child_command(python: str = sys.executable) -> str:
    """The ``executableName``: the daemon splits it on spaces, so paths must have none."""
    if " " in python:
        raise ConfigError(
            f"the Python executable path {python!r} contains a space; the MultiLangDaemon "
            "splits executableName on spaces (use a virtualenv at a path without spaces)"
        )
    return f"{python} -m consumers.kcl.child"


def _choice(value: str, allowed: tuple[str, ...], key: str) -> str:
    if value.upper() not in allowed:
        raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")
    return value.upper()


def daemon_properties(
    config: Config, executable: str, worker_id: str | None = None
) -> dict[str, str]:
    """The daemon's properties for ``config``; raises ConfigError naming a bad key."""
    kcl, consumer = config.kcl, config.consumer
    if kcl.shutdown_grace_ms <= 0:
        raise ConfigError("kcl.shutdown_grace_ms: must be positive, or SIGTERM skips shutdown")
    if consumer.max_records <= 0:
        raise ConfigError("consumer.max_records: must be positive")
    properties = {
        "executableName": executable,
        "processingLanguage": f"python/{sys.version_info.major}.{sys.version_info.minor}",
        "streamName": config.names.stream,
        "applicationName": consumer.application,
        "regionName": config.aws.region,
        "AWSCredentialsProvider": kcl.credentials_provider,
        "initialPositionInStream": _choice(
            consumer.initial_position, INITIAL_POSITIONS, "consumer.initial_position"
        ),
        "retrievalMode": _choice(kcl.retrieval_mode, RETRIEVAL_MODES, "kcl.retrieval_mode"),
        "metricsLevel": _choice(kcl.metrics_level, METRICS_LEVELS, "kcl.metrics_level"),
        "maxRecords": str(min(consumer.max_records, MAX_RECORDS)),
        "idleTimeBetweenReadsInMillis": str(consumer.poll_interval_ms),
        # empty batches too: the processor's idle tick (a quiet shard's windows close)
        "callProcessRecordsEvenForEmptyRecordList": "true",
        "failoverTimeMillis": str(kcl.failover_ms),
        "shardSyncIntervalMillis": str(kcl.shard_sync_interval_ms),
        "parentShardPollIntervalMillis": str(kcl.parent_poll_ms),
        "shutdownGraceMillis": str(kcl.shutdown_grace_ms),
        "maxLeasesToStealAtOneTime": str(max(1, kcl.max_leases_to_steal)),
        "reBalanceThresholdPercentage": str(kcl.rebalance_threshold_percent),
    }
    if config.aws.endpoint_url:
        properties["kinesisEndpoint"] = config.aws.endpoint_url
        properties["dynamoDBEndpoint"] = config.aws.endpoint_url
    if worker_id:
        properties["workerId"] = worker_id
    return properties


def render_properties(properties: Mapping[str, str]) -> str:
    """Java properties text (one ``key = value`` line each, backslashes escaped)."""
    lines = ["# Written by pipeline consume --engine kcl; edits are overwritten."]
    for key, value in properties.items():
        if "\n" in value or "\r" in value:
            raise ConfigError(f"{key}: a property value cannot span lines")
        lines.append(f"{key} = {value.replace(chr(92), chr(92) * 2)}")
    return "\n".join(lines) + "\n"


def config_toml(config: Config) -> str:
    """``config`` as a TOML file that :func:`pipeline.config.load_config` reads back equal.

    Sections that are tuples of tables (``[[jobs]]``, ``[[alerts]]``) are written in full, empty
    ones as ``name = []``: a file without them would bring back the defaults.
    """
    lines = []
    arrays = [
        f.name for f in dataclasses.fields(config) if isinstance(getattr(config, f.name), tuple)
    ]
    lines += [f"{name} = []" for name in arrays if not getattr(config, name)]
    for section in dataclasses.fields(config):
        if section.name not in arrays:
            lines += ["", f"[{section.name}]", *_table(getattr(config, section.name))]
    for name in arrays:
        for entry in getattr(config, name):
            values = _plain(entry)
            tables = {k: v for k, v in values.items() if isinstance(v, Mapping)}
            plain = {k: v for k, v in values.items() if k not in tables}
            lines += ["", f"[[{name}]]", *_table(plain)]
            for key, table in tables.items():
                lines += ["", f"[{name}.{key}]", *_table(table)]
    return "\n".join(lines) + "\n"


def _plain(values: Any) -> Mapping[str, Any]:
    if dataclasses.is_dataclass(values):
        return {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
    return values


def _table(values: Any) -> list[str]:
    return [f"{_key(key)} = {_value(value)}" for key, value in _plain(values).items()]


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):  # an inline table (an event type's field declaration)
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")
