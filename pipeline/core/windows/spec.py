"""Window jobs are declared in the configuration, not coded.

A job names its source event type, a tumbling window size, the allowed lateness, the group-by
fields (possibly none) and its metrics, each ``function(field)`` or ``count()``::

    [[jobs]]
    name = "device_minute"
    source = "iot"
    window = "1m"
    lateness = "30s"
    group_by = ["device_id", "device_type", "site"]
    metrics = { events = "count()", temperature_avg = "avg(temperature)" }

A metric may be filtered: ``android_users = "count_distinct(cognitoId) if os = 'Android'"``
(see :mod:`pipeline.core.windows.conditions`). :func:`compile_jobs` turns the declarations into
:class:`WindowJob` objects and rejects bad ones at start-up with an error naming the job and key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipeline.core.errors import ConfigError
from pipeline.core.events.schema import EventType
from pipeline.core.times import format_duration, parse_duration
from pipeline.core.windows.aggregates import FUNCTIONS, AggregateFunction
from pipeline.core.windows.conditions import Condition, parse_condition

_METRIC = re.compile(
    r"^\s*([a-z_][a-z0-9_]*)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)?\s*\)\s*(?:\s+if\s+(.+))?$",
    re.IGNORECASE | re.DOTALL,
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class MetricSpec:
    """One output column of a job: ``name = function(field)``."""

    name: str
    function: AggregateFunction
    field: str | None
    condition: Condition | None = None

    def arrow_type(self, etype: EventType) -> pa.DataType:
        field_type = etype.arrow_schema.field(self.field).type if self.field else None
        return self.function.result_type(field_type)

    def text(self) -> str:
        """The metric as declared, normalised: ``count_distinct(cognitoId) if os = 'Android'``."""
        condition = f" if {self.condition.text}" if self.condition else ""
        return f"{self.function.name}({self.field or ''}){condition}"


@dataclass(frozen=True)
class WindowJob:
    """A validated window job."""

    name: str
    etype: EventType
    size_ms: int
    lateness_ms: int
    group_by: tuple[str, ...]
    metrics: tuple[MetricSpec, ...]

    def window_start(self, event_time_ms: int) -> int:
        return event_time_ms - event_time_ms % self.size_ms

    def definition(self) -> dict[str, Any]:
        """Everything that gives its state a meaning, as plain data: a snapshot keeps it, and
        state saved under another definition of the same name is never restored into this one.
        """
        fields = sorted({*self.group_by, *(m.field for m in self.metrics if m.field)})
        return {
            "source": self.etype.name,
            "window": format_duration(self.size_ms),
            "lateness": format_duration(self.lateness_ms) if self.lateness_ms else "0s",
            "group_by": list(self.group_by),
            "metrics": {m.name: m.text() for m in self.metrics},
            "field_types": {f: str(self.etype.arrow_schema.field(f).type) for f in fields},
        }

    def result_schema(self) -> pa.Schema:
        """Columns of this job's result table in the lake (and items in DynamoDB)."""
        schema = self.etype.arrow_schema
        columns = [
            pa.field("result_id", pa.string(), nullable=False),
            pa.field("job", pa.string(), nullable=False),
            pa.field("window_start_ms", pa.int64(), nullable=False),
            pa.field("window_end_ms", pa.int64(), nullable=False),
        ]
        columns += [schema.field(name) for name in self.group_by]
        columns += [pa.field(m.name, m.arrow_type(self.etype)) for m in self.metrics]
        # the shards whose parts are merged in this row, and the merge's version: the lake
        # keeps every version written; readers take the highest per result_id
        columns.append(pa.field("shards", pa.string(), nullable=False))
        columns.append(pa.field("version", pa.int64(), nullable=False))
        return pa.schema(columns)


def compile_jobs(
    jobs: Iterable[Any], types: Mapping[str, EventType], retention_ms: int | None = None
) -> tuple[WindowJob, ...]:
    """Validate job declarations (``JobConfig``) against the declared event ``types``; raise
    :class:`ConfigError` naming the job and the key."""
    compiled: list[WindowJob] = []
    seen: set[str] = set()
    for job in jobs:
        name = getattr(job, "name", "")
        where = f"jobs.{name}"
        if not _NAME.match(name):
            raise ConfigError(f"{where}: job name must be lower_snake_case (a-z, 0-9, _)")
        if name in seen:
            raise ConfigError(f"{where}: declared twice")
        seen.add(name)
        etype = types.get(job.source)
        if etype is None:
            known = ", ".join(sorted(types))
            raise ConfigError(
                f"{where}.source: unknown event type {job.source!r} (declared: {known})"
            )
        size_ms = parse_duration(job.window, f"{where}.window")
        if size_ms <= 0:
            raise ConfigError(f"{where}.window: must be a positive duration, got {job.window!r}")
        lateness_ms = parse_duration(job.lateness, f"{where}.lateness")
        if retention_ms is not None and lateness_ms + size_ms > retention_ms:
            raise ConfigError(
                f"{where}.lateness: {job.lateness} plus the window exceeds the stream's retention"
            )
        for field in job.group_by:
            _check_field(etype, field, f"{where}.group_by")
        if not job.metrics:
            raise ConfigError(f"{where}.metrics: declare at least one metric")
        metrics = tuple(_metric(etype, where, out, text) for out, text in job.metrics.items())
        clash = set(job.group_by) & {m.name for m in metrics}
        if clash:
            raise ConfigError(f"{where}.metrics: {sorted(clash)} also named in group_by")
        compiled.append(WindowJob(name, etype, size_ms, lateness_ms, tuple(job.group_by), metrics))
    return tuple(compiled)


def _metric(etype: EventType, where: str, out: str, text: str) -> MetricSpec:
    where = f"{where}.metrics.{out}"
    if not _NAME.match(out) or out in ("result_id", "job", "window_start_ms", "window_end_ms"):
        raise ConfigError(f"{where}: {out!r} is not a usable column name")
    match = _METRIC.match(text)
    if not match:
        raise ConfigError(f"{where}: {text!r} is not a metric such as avg(temperature) or count()")
    fname, field, condition_text = match.groups()
    condition = parse_condition(condition_text, etype, where) if condition_text else None
    function = FUNCTIONS.get(fname.lower())
    if function is None:
        known = ", ".join(sorted(FUNCTIONS))
        raise ConfigError(f"{where}: unknown function {fname!r} (known: {known})")
    if field is None:
        if function.takes_field and fname != "count":
            raise ConfigError(f"{where}: {fname}() needs a field")
        return MetricSpec(out, function, None, condition)
    _check_field(etype, field, where)
    if function.numeric_only and field not in etype.numeric_fields():
        raise ConfigError(f"{where}: {fname}() needs a numeric field, {field!r} is not")
    return MetricSpec(out, function, field, condition)


def _check_field(etype: EventType, field: str, where: str) -> None:
    """A job may read any declared field but an ISO-8601 time (the window is the time)."""
    if field not in etype.fields:
        raise ConfigError(f"{where}: unknown field {field!r} of {etype.name} events")
    if not etype.usable_in_jobs(field):
        raise ConfigError(
            f"{where}: {field!r} is the ISO-8601 time of {etype.name} events; windows already "
            "group by event time"
        )
