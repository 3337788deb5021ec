"""The compiled core (pipeline/core/_kernels.pyx) against its references: every record the
scanner accepts, msgspec accepts with the same values and no key twice; keys hash, compare and
order as the Python values they encode; the hash table forgets and reuses entries exactly."""

from __future__ import annotations

import json
import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import shipped_event_type
from pipeline.core._kernels import IdTable, KeyTable, closing_slots, starting_with
from pipeline.core.events.decode import (
    EVENT_TIME,
    RECORD_INDEX,
    Decoder,
    _arrow,
    _duplicated_key,
)
from pipeline.core.events.schema import compile_event_type
from pipeline.testing import iot_event

IOT = shipped_event_type("iot")
ALL_TYPES = compile_event_type(
    {
        "name": "mixed",
        "id_field": "id",
        "time_field": "t",
        "time_format": "epoch_s",
        "fields": {
            "id": {"type": "string", "min_length": 2, "max_length": 6},
            "t": {"type": "timestamp"},
            "n": {"type": "int", "min": -5, "max": 10**15, "required": False},
            "x": {"type": "float", "min": -1e300, "max": 1e300, "required": False},
            "b": {"type": "bool", "required": False},
            "c": {"type": "string", "choices": ["a", "é"], "required": False},
            "p": {"type": "string", "pattern": "^[a-z]+$", "required": False},
        },
    }
)

NUMBER = st.from_regex(r"\A-?(0|[1-9]\d{0,24})(\.\d{1,25})?([eE][+-]?\d{1,4})?\Z")
ODD_NUMBER = st.sampled_from(["01", "-", "1.", ".5", "1e", "+1", "--1", "1e+", "0x1", "NaN"])
TEXT = st.text(max_size=8) | st.sampled_from(["é", "\u2028", "\x00", "\ud7ff", "\U0001f600"])
RAW_TEXT = st.binary(max_size=6).map(lambda b: b'"' + b + b'"')
SCALAR = st.one_of(
    NUMBER.map(str.encode),
    ODD_NUMBER.map(str.encode),
    TEXT.map(lambda t: json.dumps(t, ensure_ascii=False).encode()),
    TEXT.map(lambda t: json.dumps(t).encode()),  # escapes
    RAW_TEXT,
    st.sampled_from([b"true", b"false", b"null", b"[]", b'{"a":1}', b"tru", b'{"a":1,"a":2}']),
)


@st.composite
def payloads(draw, etype=ALL_TYPES, base=None):
    """Near-valid records: each field's raw JSON drawn from values that may or may not fit."""
    fields = dict(base or {"id": b'"abc"', "t": b"1767225600.5"})
    for name in draw(st.lists(st.sampled_from([*etype.fields, "zz", "t"]), max_size=6)):
        fields[name] = draw(SCALAR)
    members = [b'"' + k.encode() + b'":' + v for k, v in fields.items()]
    if draw(st.booleans()):  # a key twice
        members.append(draw(st.sampled_from(members)))
    members = draw(st.permutations(members))
    space = draw(st.sampled_from([b"", b" ", b"\n\t"]))
    return b"{" + space + (b"," + space).join(members) + space + b"}" + space


def _accepted(decoder: Decoder, payload: bytes):
    """The row the scanner made of ``payload`` (None: left to msgspec)."""
    columns, times, _, slow = decoder._scanner.scan([payload], decoder.max_bytes)
    if slow:
        return None
    arrays = {
        name: _arrow(kind, *parts)
        for (name, kind), parts in zip(decoder._outputs, columns, strict=True)
    }
    if decoder._screen(arrays, 1)[0]:  # a pattern or choice it breaks: msgspec decides
        return None
    values = {}
    for (name, kind), (column, valid, offsets) in zip(decoder._outputs, columns, strict=True):
        if not valid[0]:
            values[name] = None
        elif kind == "string":
            values[name] = bytes(column[offsets[0] : offsets[1]]).decode()
        elif kind == "bool":
            values[name] = bool(column[0])
        else:
            values[name] = column[0].item()
    return values, None if times is None else int(times[0])


@settings(max_examples=600, deadline=None)
@given(payloads())
def test_every_record_the_scanner_accepts_msgspec_accepts_with_the_same_values(payload):
    decoder = Decoder(ALL_TYPES)
    accepted = _accepted(decoder, payload)
    if accepted is None:
        return
    values, time_ms = accepted
    struct = msgspec.json.decode(payload, type=ALL_TYPES.struct)  # raises if it disagrees
    assert _duplicated_key(payload) is None
    for name, value in values.items():
        expected = getattr(struct, name)
        expected = None if expected is msgspec.UNSET else expected
        assert value == expected and type(value) is type(expected), name
        if isinstance(value, float):
            assert math.copysign(1, value) == math.copysign(1, expected), name
    assert time_ms == round(struct.t * 1000)


@settings(max_examples=300, deadline=None)
@given(payloads(IOT, {k: msgspec.json.encode(v) for k, v in iot_event(1, 1767225600000).items()}))
def test_a_batch_decodes_as_msgspec_decides_each_record(payload):
    batch = Decoder(IOT).decode([payload, b"{", payload])
    try:
        struct = msgspec.json.decode(payload, type=IOT.struct)
        valid = _duplicated_key(payload) is None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        valid = False
    if payload.decode("utf-8", errors="replace").encode() != payload:
        valid = False  # invalid UTF-8 anywhere, even in an unknown field
    assert batch.events.column(RECORD_INDEX).to_pylist() == ([0, 2] if valid else [])
    assert [r.index for r in batch.rejects] == ([1] if valid else [0, 1, 2])
    if valid:
        row = batch.events.slice(0, 1).to_pylist()[0]
        assert row[EVENT_TIME] == struct.ts
        for name in ("event_id", "device_id", "temperature", "battery"):
            expected = getattr(struct, name)
            assert row[name] == (None if expected is msgspec.UNSET else expected)


def test_typical_records_take_the_compiled_path():
    decoder = Decoder(IOT)
    spaced = msgspec.json.encode(iot_event(2, 1767225600000)).replace(b",", b", ")
    for payload in (msgspec.json.encode(iot_event(1, 1767225600000)), spaced):
        assert _accepted(decoder, payload) is not None
    assert _accepted(decoder, b'{"event_id":"\\u0065"}') is None  # escapes: msgspec decides


VALUES = st.one_of(
    st.lists(st.text() | st.none(), max_size=12),
    st.lists(st.integers(-(2**63), 2**63 - 1) | st.none(), max_size=12),
    st.lists(st.floats(allow_nan=False) | st.none(), max_size=12),
    st.lists(st.booleans() | st.none(), max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(VALUES, st.lists(st.integers(-3, 3), min_size=12, max_size=12))
def test_keys_order_as_their_values_with_none_last_and_round_trip(values, starts):
    table = KeyTable()
    keys = {(starts[i], value) for i, value in enumerate(values)}
    entries = {key: table.add(key, key[0]) for key in keys}
    assert len(table) == len(set(entries.values())) == len({(s, _same(v)) for s, v in keys})
    ordered = [table.key(e) for e in closing_slots(table, 3).tolist()]
    assert ordered == sorted(ordered, key=lambda k: (k[0], k[1] is None, _sortable(k[1])))
    for key, entry in entries.items():
        assert table.key(entry) == key


def _same(value):
    return 0.0 if value == 0 and isinstance(value, float) else value


def _sortable(value):
    return "" if value is None else value


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=3), st.integers(0, 20)), max_size=60), st.data())
def test_the_id_table_forgets_and_reuses_entries_like_a_dict(operations, data):
    table, model = IdTable(), {}
    for key, value in operations:
        table.add((key,), value, keep_larger=True)
        model[key] = max(value, model.get(key, value))
        if data.draw(st.booleans()):
            limit = data.draw(st.integers(0, 20))
            assert table.remove_below(limit) == sum(v < limit for v in model.values())
            model = {k: v for k, v in model.items() if v >= limit}
    _, values, keys = table.live()
    assert {k[0]: v for k, v in zip(keys, values, strict=True)} == model
    assert len(table) == len(model)


def test_control_records_are_found_by_their_prefix():
    payloads = [b'{"_control":"x"}', b"{", b'{"_contro', bytearray(b'{"_control"}')]
    assert starting_with(payloads, b'{"_control"') == [0, 3]


@pytest.mark.parametrize("values", [[], [0.0, -0.0, 5e-324, 1e308, 21.37, np.nan]])
def test_exact_split_matches_the_float_values(values):
    from fractions import Fraction

    from pipeline.core.windows import exact

    limbs, rare = exact.split(np.asarray(values, dtype=np.float64))
    for row, value in enumerate(values):
        if math.isnan(value) or rare[row]:
            continue
        units = sum(int(limb) << (exact.LIMB_BITS * k) for k, limb in enumerate(limbs[row]))
        assert Fraction(units, 2**-exact.UNIT) == Fraction(value)
