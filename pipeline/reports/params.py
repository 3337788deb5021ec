"""Report parameters: declared once, typed, bound by the engines (never pasted into SQL).

A report uses ``:name`` for any parameter declared here; the runner passes every one it uses,
with its default unless given. "All sites" is the empty string (``(:site = '' OR site =
:site)``), which binds the same way on both engines.

Time ranges are on **event time**. When a range starts (``since_ms`` given), the runner also
binds ``since_dt`` and ``since_hour``, the first arrival partition to read: the hour of
``since_ms`` minus :data:`ARRIVAL_MARGIN_MS`. Firehose partitions by arrival time, and a row
arrives after its event happened, so no row of the range is in an earlier partition unless a
producer's clock ran more than the margin ahead of Firehose's (such rows are missed by ranged
reports; a report without ``--since`` reads every partition).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.events.schema import MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS
from pipeline.lake.ddl import SINCE_DT, SINCE_HOUR

ARRIVAL_MARGIN_MS = 3_600_000


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: type
    default: Any
    help: str


PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter("since_ms", int, MIN_EVENT_TIME_MS, "event-time range start (inclusive), ms"),
        Parameter("until_ms", int, MAX_EVENT_TIME_MS, "event-time range end (exclusive), ms"),
        Parameter("site", str, "", "only this site ('' = every site)"),
        Parameter("device", str, "", "only this device ('' = every device)"),
        Parameter("band_low", float, -10.0, "readings below this temperature are anomalies"),
        Parameter("band_high", float, 40.0, "readings above this temperature are anomalies"),
        Parameter("silent_windows", int, 3, "windows without data before a device is silent"),
        Parameter(SINCE_DT, str, "", "first arrival day read (set from since_ms)"),
        Parameter(SINCE_HOUR, str, "", "first arrival hour of that day read (set from since_ms)"),
    )
}


def coerce(name: str, value: Any) -> Any:
    """``value`` (a string from the command line, or typed) as the parameter's type."""
    parameter = PARAMETERS.get(name)
    if parameter is None or name in (SINCE_DT, SINCE_HOUR):
        known = ", ".join(n for n in PARAMETERS if n not in (SINCE_DT, SINCE_HOUR))
        raise PipelineError(f"unknown report parameter {name!r} (known: {known})")
    try:
        typed = parameter.kind(value)
    except (TypeError, ValueError):
        raise PipelineError(
            f"parameter {name}: expected {parameter.kind.__name__}, got {value!r}"
        ) from None
    if isinstance(typed, float) and not math.isfinite(typed):
        raise PipelineError(f"parameter {name}: must be a finite number, got {value!r}")
    return typed


def bind(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value: ``given`` (coerced) over the defaults, plus the first arrival
    partition when the range starts."""
    values = {name: p.default for name, p in PARAMETERS.items()}
    values.update({name: coerce(name, value) for name, value in given.items()})
    if values["since_ms"] >= values["until_ms"]:
        raise PipelineError("the time range is empty: --since must be before --until")
    if "since_ms" in given:
        start = datetime.fromtimestamp((values["since_ms"] - ARRIVAL_MARGIN_MS) / 1000, tz=UTC)
        values[SINCE_DT], values[SINCE_HOUR] = start.strftime("%Y-%m-%d"), f"{start.hour:02d}"
    return values
