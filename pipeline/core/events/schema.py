"""Event schemas: what a valid record of each event type looks like.

Each type is a strict ``msgspec`` struct: a field of the wrong JSON type, a value out of its
plausible range, a missing required field or a non-object payload is a validation error naming
the field (``Expected `float` <= 200.0 - at `$.temperature```), which becomes the dead-letter
reason. Unknown fields are ignored so that producers can add optional fields without breaking
consumers (schema evolution); they are not carried into the lake.

Event time is always converted to int epoch milliseconds (UTC) inside the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
import pyarrow as pa

from pipeline.core.errors import ConfigError

#: Event times outside [2000-01-01, 2100-01-01) are corrupt clocks, not data.
MIN_EVENT_TIME_MS = 946_684_800_000
MAX_EVENT_TIME_MS = 4_102_444_800_000

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
EpochMillis = Annotated[int, msgspec.Meta(ge=MIN_EVENT_TIME_MS, lt=MAX_EVENT_TIME_MS)]
EpochSeconds = Annotated[
    float, msgspec.Meta(ge=MIN_EVENT_TIME_MS / 1000, lt=MAX_EVENT_TIME_MS / 1000)
]
Celsius = Annotated[float, msgspec.Meta(ge=-100.0, le=200.0)]
Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]


class IotTelemetry(msgspec.Struct, frozen=True):
    """One reading of an IoT device; readings a device type lacks are null."""

    event_id: Id
    device_id: Name
    device_type: Name
    site: Name
    ts: EpochMillis
    temperature: Celsius | None = None
    humidity: Percent | None = None
    battery: Percent | None = None


class WebClick(msgspec.Struct, frozen=True):
    """One click-stream event, shaped like the seed's JavaScript SDK payload (recordTime in s)."""

    event_id: Id
    recordTime: EpochSeconds
    cognitoId: Name
    os: Name
    quadrant: Annotated[str, msgspec.Meta(pattern="^[A-D]$")]
    page: Name | None = None
    event_type: Name | None = None
    session_id: Name | None = None


_ARROW_TYPES = {str: pa.string(), int: pa.int64(), float: pa.float64()}


@dataclass(frozen=True)
class EventType:
    """An event type: its struct, its id and event-time fields, and its Arrow schema."""

    name: str
    struct: type[msgspec.Struct]
    id_field: str
    time_field: str
    time_unit_ms: int  # milliseconds per unit of the time field (1 for ms, 1000 for s)
    partition_key_field: str

    @property
    def fields(self) -> tuple[str, ...]:
        return self.struct.__struct_fields__

    @property
    def arrow_schema(self) -> pa.Schema:
        """Columns of the event in the lake: every declared field, nullable where optional."""
        info = msgspec.inspect.type_info(self.struct)
        columns = []
        for f in info.fields:
            columns.append(pa.field(f.name, _arrow_type(f.type), nullable=not f.required))
        return pa.schema(columns)

    def numeric_fields(self) -> tuple[str, ...]:
        schema = self.arrow_schema
        return tuple(
            f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
        )


def _arrow_type(info: msgspec.inspect.Type) -> pa.DataType:
    if isinstance(info, msgspec.inspect.UnionType):
        (inner,) = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        return _arrow_type(inner)
    if isinstance(info, msgspec.inspect.StrType):
        return pa.string()
    if isinstance(info, msgspec.inspect.IntType):
        return pa.int64()
    if isinstance(info, msgspec.inspect.FloatType):
        return pa.float64()
    raise TypeError(f"no Arrow type for {info!r}")  # pragma: no cover - schema authoring error


EVENT_TYPES: dict[str, EventType] = {
    "iot": EventType("iot", IotTelemetry, "event_id", "ts", 1, "device_id"),
    "web": EventType("web", WebClick, "event_id", "recordTime", 1000, "cognitoId"),
}


def event_type(name: str) -> EventType:
    """The event type called ``name``; a clear :class:`ConfigError` for an unknown one."""
    try:
        return EVENT_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(EVENT_TYPES))
        raise ConfigError(f"unknown event type {name!r} (known: {known})") from None
