"""Event types are declared in the configuration; this module compiles a declaration.

A declaration names the type, its id, time and partition-key fields, the time's format and every
field's type and constraints (the reference is in the README, "Your own events")::

    [[event_types]]
    name = "telemetry"
    id_field = "event_id"
    time_field = "ts"
    time_format = "iso8601"        # iso8601 | epoch_s | epoch_ms | epoch_us
    partition_key = "device_id"

    [event_types.fields]
    event_id = { type = "string", max_length = 128 }
    ts = { type = "timestamp" }
    temperature = { type = "float", min = -100, max = 200, required = false }

It compiles into a strict ``msgspec`` struct, generated once, so validation runs in C at the speed
of a hand-written struct: a field of the wrong JSON type, a value out of its range, a missing
required field or a non-object payload is a validation error naming the field
(``Expected `float` <= 200.0 - at `$.temperature```), which becomes the dead-letter reason.
Unknown fields are ignored (schema evolution) and not carried into the lake.

Event time is always int epoch milliseconds (UTC) inside the core: ``iso8601`` accepts ``Z`` and
``+hh:mm`` offsets and fractional seconds (kept to the millisecond; msgspec rounds finer fractions
to the microsecond first) and normalises to UTC; a time without a zone is rejected unless the type
sets ``time_zone = "UTC"``. ``epoch_s`` accepts integers and decimals (rounded to the nearest
millisecond), ``epoch_ms`` and ``epoch_us`` integers.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import pyarrow as pa

from pipeline.core.errors import ConfigError

#: Event times outside [2000-01-01, 2100-01-01) are corrupt clocks, not data.
MIN_EVENT_TIME_MS = 946_684_800_000
MAX_EVENT_TIME_MS = 4_102_444_800_000

FIELD_TYPES = ("string", "int", "float", "bool", "timestamp")
TIME_FORMATS = ("iso8601", "epoch_s", "epoch_ms", "epoch_us")
_CONSTRAINTS = {
    "string": {"min_length", "max_length", "pattern", "choices"},
    "int": {"min", "max", "choices"},
    "float": {"min", "max"},
    "bool": set(),
    "timestamp": set(),
}
_FIELD_KEYS = {"type", "required", "min", "max", "min_length", "max_length", "pattern", "choices"}
_TYPE_KEYS = {"name", "id_field", "time_field", "time_format", "partition_key", "time_zone"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_ARROW = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
_TIME_ARROW = {
    "iso8601": pa.string(),
    "epoch_s": pa.float64(),
    "epoch_ms": pa.int64(),
    "epoch_us": pa.int64(),
}
#: Milliseconds per unit of each epoch format.
_EPOCH_UNIT_MS = {"epoch_s": 1000, "epoch_ms": 1, "epoch_us": 0.001}


@dataclass(frozen=True)
class FieldSpec:
    """One declared field: its type, whether it must be present, and its constraints."""

    name: str
    type: str
    required: bool = True
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[Any, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.type in ("int", "float")


@dataclass(frozen=True)
class EventType:
    """A compiled event type: its fields, its id and event-time fields, its struct and schema."""

    name: str
    field_specs: tuple[FieldSpec, ...]
    id_field: str
    time_field: str
    time_format: str
    partition_key_field: str
    #: "UTC": an ISO-8601 time without a zone is UTC; empty: such a time is rejected
    time_zone: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.field_specs)

    def spec(self, name: str) -> FieldSpec:
        return next(f for f in self.field_specs if f.name == name)

    @cached_property
    def struct(self) -> type[msgspec.Struct]:
        """The strict struct every payload is decoded into (generated once per type)."""
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for spec in self.field_specs:
            annotation = self._annotation(spec)
            if spec.required:
                fields.append((spec.name, annotation))
            else:
                # UNSET tells an absent field from an explicit null (the duplicate-key screen)
                fields.append((spec.name, annotation | None | msgspec.UnsetType, msgspec.UNSET))
        fields.sort(key=lambda f: len(f) == 3)  # msgspec: required fields first
        return msgspec.defstruct(f"Event_{self.name}", fields, frozen=True)

    def _annotation(self, spec: FieldSpec) -> Any:
        if spec.type == "timestamp":
            return _TIME_ANNOTATIONS[self.time_format]
        if spec.choices:
            return Literal[spec.choices]
        if spec.type == "string":
            meta = msgspec.Meta(
                min_length=spec.min_length, max_length=spec.max_length, pattern=spec.pattern
            )
            return Annotated[str, meta]
        if spec.type == "bool":
            return bool
        kind = int if spec.type == "int" else float
        return Annotated[kind, msgspec.Meta(ge=spec.min, le=spec.max)]

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        """Columns of the event in the lake: every declared field, nullable where optional.

        An ``iso8601`` timestamp is kept as the text the producer sent (lossless; Athena reads
        it with ``from_iso8601_timestamp``); epoch timestamps are numbers.
        """
        return pa.schema(
            [
                pa.field(f.name, self.arrow_type(f), nullable=not f.required)
                for f in self.field_specs
            ]
        )

    def arrow_type(self, spec: FieldSpec) -> pa.DataType:
        if spec.type == "timestamp":
            return _TIME_ARROW[self.time_format]
        return _ARROW[spec.type]

    def numeric_fields(self) -> tuple[str, ...]:
        """Fields a numeric aggregate may read (epoch timestamps are numbers too)."""
        return tuple(
            f.name
            for f in self.field_specs
            if pa.types.is_integer(self.arrow_type(f)) or pa.types.is_floating(self.arrow_type(f))
        )

    def usable_in_jobs(self, name: str) -> bool:
        """ISO-8601 times are text: a job groups by the window, not by a time string."""
        return name in self.fields and not (
            self.spec(name).type == "timestamp" and self.time_format == "iso8601"
        )

    def event_times_ms(self, values: list[Any]) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Event times (int epoch ms) of decoded time-field values, and the positions rejected.

        Epoch formats were range-checked by the struct; ISO-8601 times are checked here (zone,
        range), since msgspec parses them but cannot bound them.
        """
        if self.time_format == "epoch_ms":
            return np.asarray(values, dtype=np.int64), []
        if self.time_format == "epoch_us":
            return np.asarray(values, dtype=np.int64) // 1000, []
        if self.time_format == "epoch_s":
            return np.rint(np.asarray(values, dtype=np.float64) * 1000).astype(np.int64), []
        return _iso_times_ms(values, self.time_field, bool(self.time_zone))

    def time_value(self, ms: int) -> int | float | str:
        """The JSON value of the time field for a time in epoch ms (producers, chaos)."""
        if self.time_format == "epoch_ms":
            return ms
        if self.time_format == "epoch_us":
            return ms * 1000
        if self.time_format == "epoch_s":
            return ms / 1000
        moment = _UNIX_EPOCH + datetime.timedelta(milliseconds=ms)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def event_time_sql(self) -> str:
        """The event time in epoch milliseconds as portable (Athena) SQL over the lake row."""
        field = self.time_field
        if self.time_format == "epoch_ms":
            return field
        if self.time_format == "epoch_us":
            return f"CAST(floor({field} / 1000e0) AS bigint)"
        if self.time_format == "epoch_s":
            return f"CAST(round({field} * 1000e0) AS bigint)"
        return f"CAST(floor(to_unixtime(from_iso8601_timestamp({field})) * 1000) AS bigint)"


_TIME_ANNOTATIONS: dict[str, Any] = {
    # kept as text in the struct (and the lake); parsed in bulk by _iso_times_ms
    "iso8601": Annotated[str, msgspec.Meta(max_length=64)],
    "epoch_s": Annotated[
        float, msgspec.Meta(ge=MIN_EVENT_TIME_MS / 1000, lt=MAX_EVENT_TIME_MS / 1000)
    ],
    "epoch_ms": Annotated[int, msgspec.Meta(ge=MIN_EVENT_TIME_MS, lt=MAX_EVENT_TIME_MS)],
    "epoch_us": Annotated[
        int, msgspec.Meta(ge=MIN_EVENT_TIME_MS * 1000, lt=MAX_EVENT_TIME_MS * 1000)
    ],
}


_parse_times = msgspec.json.Decoder(list[datetime.datetime]).decode
_parse_time = msgspec.json.Decoder(datetime.datetime).decode
_encode = msgspec.json.encode
_ZONED_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _iso_times_ms(
    texts: list[str], field: str, naive_is_utc: bool
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Epoch ms of RFC 3339 times, parsed in one call when all are valid; the bad ones named."""
    at = f" - at `$.{field}`"
    rejects: list[tuple[int, str]] = []
    try:
        times = _parse_times(_encode(texts))
    except msgspec.ValidationError:
        times = []
        for i, text in enumerate(texts):
            try:
                times.append(_parse_time(_encode(text)))
            except msgspec.ValidationError as exc:
                rejects.append((i, f"{str(exc).split(' - at ')[0]}{at}"))
                times.append(_ZONED_EPOCH)
    if not naive_is_utc:
        bad = {i for i, _ in rejects}
        rejects += [
            (i, f"time without zone{at}")
            for i, time in enumerate(times)
            if time.tzinfo is None and i not in bad
        ]
    ms = pa.array(times, type=pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()
    out_of_range = np.flatnonzero((ms < MIN_EVENT_TIME_MS) | (ms >= MAX_EVENT_TIME_MS))
    if len(out_of_range):
        bad = {i for i, _ in rejects}
        reason = f"time outside [2000-01-01, 2100-01-01){at}"
        rejects += [(i, reason) for i in out_of_range.tolist() if i not in bad]
    return ms, sorted(rejects)


def compile_event_types(declarations: Iterable[Mapping[str, Any]]) -> dict[str, EventType]:
    """Compile declarations (``[[event_types]]`` tables); a later one replaces an earlier one
    of the same name. Raises :class:`ConfigError` naming the type and the key."""
    types: dict[str, EventType] = {}
    for declaration in declarations:
        etype = compile_event_type(declaration)
        types[etype.name] = etype
    return types


def compile_event_type(declaration: Mapping[str, Any]) -> EventType:
    name = declaration.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"event_types: name {name!r} must be lower_snake_case (a-z, 0-9, _), 63 at most"
        )
    where = f"event_types.{name}"
    unknown = sorted(set(declaration) - _TYPE_KEYS - {"fields"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    fields = declaration.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise ConfigError(f'{where}.fields: declare the fields, e.g. ts = {{ type = "timestamp" }}')
    specs = tuple(_field(f"{where}.fields.{key}", key, value) for key, value in fields.items())
    time_format = declaration.get("time_format", "iso8601")
    if time_format not in TIME_FORMATS:
        raise ConfigError(
            f"{where}.time_format: {time_format!r} is not one of {', '.join(TIME_FORMATS)}"
        )
    time_zone = declaration.get("time_zone", "")
    if time_zone not in ("", "UTC"):
        raise ConfigError(
            f'{where}.time_zone: only "UTC" is supported (times without a zone are UTC); '
            f"got {time_zone!r}"
        )
    by_name = {spec.name: spec for spec in specs}
    id_field = _named_field(declaration, "id_field", where, by_name, ("string", "int"))
    time_field = _named_field(declaration, "time_field", where, by_name, ("timestamp",))
    partition_key = declaration.get("partition_key") or id_field
    if partition_key not in by_name:
        raise ConfigError(f"{where}.partition_key: unknown field {partition_key!r}")
    for spec in specs:
        if spec.type == "timestamp" and spec.name != time_field:
            raise ConfigError(
                f"{where}.fields.{spec.name}: only the time field ({time_field}) is a timestamp; "
                "declare other times as string or int"
            )
    if not by_name[id_field].required or not by_name[time_field].required:
        raise ConfigError(f"{where}: the id and time fields must be required")
    return EventType(name, specs, id_field, time_field, time_format, partition_key, time_zone)


def _named_field(
    declaration: Mapping[str, Any],
    key: str,
    where: str,
    by_name: Mapping[str, FieldSpec],
    types: tuple[str, ...],
) -> str:
    field = declaration.get(key)
    if not isinstance(field, str) or field not in by_name:
        raise ConfigError(f"{where}.{key}: {field!r} is not a declared field")
    if by_name[field].type not in types:
        raise ConfigError(
            f"{where}.{key}: field {field!r} is {by_name[field].type}, must be {' or '.join(types)}"
        )
    return field


def _field(where: str, name: str, declaration: Any) -> FieldSpec:
    if not _FIELD_NAME.match(name):
        raise ConfigError(f"{where}: {name!r} is not a usable field name")
    if not isinstance(declaration, Mapping):
        raise ConfigError(f'{where}: expected a table such as {{ type = "string" }}')
    unknown = sorted(set(declaration) - _FIELD_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kind = declaration.get("type")
    if kind not in FIELD_TYPES:
        raise ConfigError(f"{where}.type: {kind!r} is not one of {', '.join(FIELD_TYPES)}")
    misplaced = sorted(set(declaration) - {"type", "required"} - _CONSTRAINTS[kind])
    if misplaced:
        raise ConfigError(f"{where}: {', '.join(misplaced)} does not apply to a {kind} field")
    required = declaration.get("required", True)
    if not isinstance(required, bool):
        raise ConfigError(f"{where}.required: expected true or false, got {required!r}")
    pattern = declaration.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"{where}.pattern: not a regular expression ({exc})") from None
    return FieldSpec(
        name,
        kind,
        required,
        *_range(where, kind, declaration, "min", "max", _number),
        *_range(where, kind, declaration, "min_length", "max_length", _length),
        pattern=pattern,
        choices=_choices(where, kind, declaration.get("choices")),
    )


def _range(
    where: str,
    kind: str,
    declaration: Mapping[str, Any],
    low_key: str,
    high_key: str,
    read: Callable[[str, str, str, Any], Any],
) -> tuple[Any, Any]:
    low, high = (read(where, kind, key, declaration.get(key)) for key in (low_key, high_key))
    if low is not None and high is not None and low > high:
        raise ConfigError(f"{where}: {low_key} {low} is greater than {high_key} {high}")
    return low, high


def _number(where: str, kind: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
    if kind == "int" and value != int(value):
        raise ConfigError(f"{where}.{key}: an int field needs an integer bound, got {value!r}")
    return value


def _length(where: str, kind: str, key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}.{key}: expected a non-negative integer, got {value!r}")
    return value


def _choices(where: str, kind: str, value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    python_type = str if kind == "string" else int
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, python_type) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{where}.choices: expected a non-empty list of {kind} values")
    return tuple(value)
