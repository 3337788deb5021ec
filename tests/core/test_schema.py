"""Declared event types: compiling declarations, every time format, strict decoding."""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.errors import ConfigError
from pipeline.core.events.decode import EVENT_TIME, Decoder
from pipeline.core.events.schema import compile_event_type

TELEMETRY = {
    "name": "telemetry",
    "id_field": "event_id",
    "time_field": "ts",
    "time_format": "iso8601",
    "partition_key": "device_id",
    "fields": {
        "event_id": {"type": "string", "max_length": 128},
        "device_id": {"type": "string"},
        "device_type": {"type": "string", "choices": ["thermostat", "meter", "tracker"]},
        "ts": {"type": "timestamp"},
        "temperature": {"type": "float", "min": -100, "max": 200, "required": False},
        "battery": {"type": "float", "min": 0, "max": 1, "required": False},
        "floor": {"type": "int", "min": -5, "max": 200, "required": False},
        "online": {"type": "bool", "required": False},
    },
}
TELEMETRY_TYPE = compile_event_type(TELEMETRY)


def declared(**changes):
    return compile_event_type({**TELEMETRY, **changes})


def event(**fields) -> bytes:
    base = {
        "event_id": "e1",
        "device_id": "dev-000123",
        "device_type": "meter",
        "ts": "2024-05-01T12:00:00.123Z",
    }
    return json.dumps({**base, **fields}).encode()


def decode(payloads, etype=TELEMETRY_TYPE):
    return Decoder(etype).decode(payloads)


def test_the_issue_example_decodes_and_ignores_unknown_fields():
    payload = (
        b'{"event_id":"6f1c","device_id":"dev-000123","device_type":"meter","site":"site-07",'
        b'"ts":"2024-05-01T12:00:00.123Z","temperature":21.37,"humidity":44.1,"battery":0.873}'
    )
    batch = decode([payload])
    assert batch.rejects == []
    row = batch.events.to_pylist()[0]
    assert row[EVENT_TIME] == 1_714_564_800_123
    assert row["temperature"] == 21.37 and row["battery"] == 0.873
    assert row["floor"] is None and "site" not in row


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-05-01T12:00:00Z", 1_714_564_800_000),
        ("2024-05-01T12:00:00.123Z", 1_714_564_800_123),
        ("2024-05-01T12:00:00.1239Z", 1_714_564_800_123),  # kept to the millisecond
        ("2024-05-01T14:00:00.5+02:00", 1_714_564_800_500),
        ("2024-05-01T06:30:00-05:30", 1_714_564_800_000),
        ("2024-05-01 12:00:00z", 1_714_564_800_000),
    ],
)
def test_iso8601_offsets_and_fractions_normalise_to_utc_milliseconds(text, ms):
    batch = decode([event(ts=text)])
    assert batch.rejects == []
    assert batch.events.column(EVENT_TIME).to_pylist() == [ms]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-05-01T12:00:00", "time without zone - at `$.ts`"),
        ("2024-05-01", "Invalid RFC3339 encoded datetime - at `$.ts`"),
        ("yesterday", "Invalid RFC3339 encoded datetime - at `$.ts`"),
        ("2124-05-01T12:00:00Z", "time outside [2000-01-01, 2100-01-01) - at `$.ts`"),
        ("1999-12-31T23:59:59Z", "time outside [2000-01-01, 2100-01-01) - at `$.ts`"),
    ],
)
def test_malformed_or_zoneless_times_are_rejected_with_a_reason(text, reason):
    batch = decode([event(event_id="good"), event(ts=text)])
    assert [(r.index, r.reason) for r in batch.rejects] == [(1, reason)]
    assert batch.events.column("event_id").to_pylist() == ["good"]


def test_a_time_without_zone_is_utc_when_the_type_says_so():
    etype = declared(time_zone="UTC")
    batch = decode([event(ts="2024-05-01T12:00:00.123")], etype)
    assert batch.rejects == []
    assert batch.events.column(EVENT_TIME).to_pylist() == [1_714_564_800_123]


@pytest.mark.parametrize(
    ("time_format", "value", "ms"),
    [
        ("epoch_ms", 1_714_564_800_123, 1_714_564_800_123),
        ("epoch_us", 1_714_564_800_123_456, 1_714_564_800_123),
        ("epoch_s", 1_714_564_800, 1_714_564_800_000),
        ("epoch_s", 1_714_564_800.123, 1_714_564_800_123),
    ],
)
def test_epoch_formats(time_format, value, ms):
    etype = declared(time_format=time_format)
    batch = decode([event(ts=value)], etype)
    assert batch.rejects == []
    assert batch.events.column(EVENT_TIME).to_pylist() == [ms]


@pytest.mark.parametrize("time_format", ["epoch_ms", "epoch_us"])
def test_integer_epochs_reject_decimals_and_strings(time_format):
    etype = declared(time_format=time_format)
    batch = decode([event(ts=1_714_564_800.5), event(ts="1714564800")], etype)
    assert [r.index for r in batch.rejects] == [0, 1]
    assert all("at `$.ts`" in r.reason for r in batch.rejects)


@pytest.mark.parametrize("time_format", ["iso8601", "epoch_s", "epoch_ms", "epoch_us"])
@settings(max_examples=50, deadline=None)
@given(ms=st.integers(946_684_800_000, 4_102_444_799_999))
def test_every_time_format_round_trips(time_format, ms):
    etype = declared(time_format=time_format)
    batch = decode([event(ts=etype.time_value(ms))], etype)
    assert batch.rejects == []
    assert batch.events.column(EVENT_TIME).to_pylist() == [ms]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"device_type": "fridge"}, "Invalid enum value 'fridge' - at `$.device_type`"),
        ({"temperature": 201}, "Expected `float` <= 200.0 - at `$.temperature`"),
        ({"floor": 2.5}, "Expected `int | null`, got `float` - at `$.floor`"),
        ({"floor": 201}, "Expected `int` <= 200 - at `$.floor`"),
        ({"online": "yes"}, "Expected `bool | null`, got `str` - at `$.online`"),
        ({"event_id": "x" * 129}, "Expected `str` of length <= 128 - at `$.event_id`"),
        ({"device_id": None}, "Expected `str`, got `null` - at `$.device_id`"),
    ],
)
def test_constraints_reject_with_a_reason_naming_the_field(fields, reason):
    batch = decode([event(**fields)])
    assert [r.reason for r in batch.rejects] == [f"schema violation: {reason}"]


def test_a_missing_required_field_is_named():
    payload = json.loads(event())
    del payload["device_id"]
    (reject,) = decode([json.dumps(payload).encode()]).rejects
    assert reject.reason == "schema violation: Object missing required field `device_id`"


def test_a_pattern_constraint():
    etype = compile_event_type(
        {
            **TELEMETRY,
            "fields": {**TELEMETRY["fields"], "device_id": {"type": "string", "pattern": "^dev-"}},
        }
    )
    batch = decode([event(), event(device_id="sensor-1")], etype)
    assert [r.index for r in batch.rejects] == [1]
    assert "at `$.device_id`" in batch.rejects[0].reason


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (
            b'{"event_id":"a","event_id":"b","device_id":"d","device_type":"meter",'
            b'"ts":"2024-05-01T12:00:00Z"}',
            "event_id",
        ),
        # a string value carrying ":null" or an escaped colon must not hide the duplicate
        (
            b'{"event_id":"a:null","device_id":"d","device_type":"meter",'
            b'"ts":"2024-05-01T12:00:00Z","floor":null,"floor":3}',
            "floor",
        ),
        (
            b'{"event_id":"a\\u003a","device_id":"d","device_type":"meter",'
            b'"ts":"2024-05-01T12:00:00Z","floor":1,"floor":3}',
            "floor",
        ),
        (
            b'{"event_id":"a","device_id":"d","device_type":"meter","ts":"2024-05-01T12:00:00Z",'
            b'"x":{"y":{"z":1,"z":null}}}',
            "z",
        ),
        (
            b'{"event_id":"a","device_id":"d","device_type":"meter","ts":"2024-05-01T12:00:00Z",'
            b'"online":null,"online":null}',
            "online",
        ),
    ],
)
def test_duplicate_keys_are_found_at_any_depth_without_a_bypass(payload, key):
    batch = decode([event(), payload])
    assert [(r.index, r.reason) for r in batch.rejects] == [
        (1, f"duplicate key {key!r}: the value would be ambiguous")
    ]


def test_colons_and_escapes_in_string_values_are_not_duplicates():
    payloads = [event(event_id="urn:a:b"), event(event_id='quote " and \\ and \u003a')]
    assert decode(payloads).rejects == []


_FLOATS = st.floats(-100, 200, allow_nan=False).filter(lambda f: f == f)


def _spellings(value):
    """JSON spellings of one number: plain, exponent, padded with a trailing zero."""
    if isinstance(value, int):
        return st.sampled_from([str(value)])
    text = repr(float(value))
    options = [text, f"{value:e}", f"{value:.17g}"]
    if "e" not in text and "." in text:
        options.append(text + "0")
    return st.sampled_from([o for o in options if float(o) == value])


@st.composite
def spelled_events(draw):
    values = {
        "event_id": draw(st.text(min_size=1, max_size=20)),
        "device_id": draw(st.text(max_size=20)),
        "device_type": draw(st.sampled_from(["thermostat", "meter", "tracker"])),
        "ts": TELEMETRY_TYPE.time_value(draw(st.integers(946_684_800_000, 4_102_444_799_999))),
    }
    optional = {
        "temperature": _FLOATS,
        "battery": st.floats(0, 1),
        "floor": st.integers(-5, 200),
        "online": st.booleans(),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            values[name] = draw(st.none() | strategy)
    order = draw(st.permutations(list(values)))
    parts = []
    for name in order:
        value = values[name]
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
            spelled = draw(_spellings(value))
        else:
            spelled = json.dumps(value, ensure_ascii=draw(st.booleans()))
        parts.append(f"{json.dumps(name)}{draw(st.sampled_from(['', ' ']))}:{spelled}")
    return values, ("{" + ",".join(parts) + "}").encode()


@settings(max_examples=200, deadline=None)
@given(spelled_events())
def test_any_valid_event_decodes_to_the_same_columns_whatever_its_key_order_and_spelling(case):
    values, payload = case
    batch = decode([payload])
    assert batch.rejects == []
    row = batch.events.to_pylist()[0]
    for name in TELEMETRY_TYPE.fields:
        if name != "ts":
            assert row[name] == values.get(name), name
    expected = datetime.datetime.fromisoformat(values["ts"].replace("Z", "+00:00"))
    assert row[EVENT_TIME] == int(expected.timestamp() * 1000 + 0.5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"time_field": "event_id"},
            "event_types.telemetry.time_field: field 'event_id' is string",
        ),
        ({"time_field": "when"}, "event_types.telemetry.time_field: 'when' is not a declared"),
        ({"id_field": "battery"}, "event_types.telemetry.id_field: field 'battery' is float"),
        ({"time_format": "epoch_ns"}, "event_types.telemetry.time_format: 'epoch_ns' is not one"),
        ({"time_zone": "Europe/Paris"}, 'event_types.telemetry.time_zone: only "UTC"'),
        ({"partition_key": "site"}, "event_types.telemetry.partition_key: unknown field 'site'"),
        ({"colour": "red"}, "event_types.telemetry: unknown key(s) colour"),
        ({"name": "Telemetry"}, "event_types: name 'Telemetry' must be lower_snake_case"),
        ({"fields": {}}, "event_types.telemetry.fields: declare the fields"),
    ],
)
def test_a_bad_declaration_names_the_type_and_the_key(changes, message):
    with pytest.raises(ConfigError) as raised:
        declared(**changes)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"type": "datetime"}, "fields.x.type: 'datetime' is not one of string, int"),
        ({"type": "float", "min": 5, "max": 1}, "fields.x: min 5 is greater than max 1"),
        ({"type": "int", "min": 0.5}, "fields.x.min: an int field needs an integer bound"),
        ({"type": "float", "max_length": 3}, "fields.x: max_length does not apply to a float"),
        ({"type": "string", "choices": []}, "fields.x.choices: expected a non-empty list"),
        ({"type": "string", "pattern": "("}, "fields.x.pattern: not a regular expression"),
        ({"type": "string", "required": "no"}, "fields.x.required: expected true or false"),
        ({"type": "timestamp"}, "fields.x: only the time field (ts) is a timestamp"),
        ({"type": "string", "colour": 1}, "fields.x: unknown key(s) colour"),
    ],
)
def test_a_bad_field_declaration_names_the_field_and_the_key(field, message):
    fields = {**TELEMETRY["fields"], "x": field}
    with pytest.raises(ConfigError) as raised:
        declared(fields=fields)
    assert str(raised.value).startswith(f"event_types.telemetry.{message}")
