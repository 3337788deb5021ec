"""Synthetic events of any declared type: valid for their declaration, seeded, keyed."""

from __future__ import annotations

import msgspec
import pytest

from pipeline.config import shipped_event_type
from pipeline.core.events.decode import EVENT_TIME, Decoder
from pipeline.core.events.schema import compile_event_type
from producers.synthetic import SyntheticSource
from tests.core.test_schema import TELEMETRY

T0 = 1_767_225_600_000
PATTERNED = compile_event_type(
    {
        **TELEMETRY,
        "name": "patterned",
        "time_format": "epoch_us",
        "fields": {
            **TELEMETRY["fields"],
            "device_id": {"type": "string", "pattern": "^dev-[0-9]{6}$"},
            "code": {"type": "int", "choices": [3, 5, 7]},
            "label": {"type": "string", "min_length": 12, "max_length": 14, "required": False},
        },
    }
)


def blocks(etype, keys=20, seed=1, minutes=5):
    source = SyntheticSource(etype, keys, seed, T0)
    return list(source.blocks(T0 + minutes * 60_000))


@pytest.mark.parametrize(
    "etype",
    [compile_event_type(TELEMETRY), PATTERNED, shipped_event_type("iot")],
    ids=lambda t: t.name,
)
def test_every_synthetic_event_is_valid_for_its_declaration(etype):
    data = [d for b in blocks(etype) for d in b.data]
    batch = Decoder(etype).decode(data)
    assert batch.rejects == []
    assert batch.events.num_rows == len(data) > 500
    times = batch.events.column(EVENT_TIME).to_pylist()
    assert times == sorted(times) and times[0] >= T0 and times[-1] < T0 + 300_000
    ids = [msgspec.json.decode(d)[etype.id_field] for d in data]
    assert len(set(ids)) == len(ids)


def test_keys_are_the_partition_key_field_and_as_many_as_asked():
    data, keys = [], []
    for block in blocks(PATTERNED, keys=7):
        data += block.data
        keys += block.keys
    values = [msgspec.json.decode(d)["device_id"] for d in data]
    assert keys == values
    assert len(set(keys)) == 7


def test_optional_fields_are_sometimes_null_and_sometimes_absent():
    events = [msgspec.json.decode(d) for b in blocks(PATTERNED) for d in b.data]
    labels = [e.get("label", "absent") for e in events]
    assert labels.count("absent") > 0 and labels.count(None) > 0
    assert sum(isinstance(label, str) for label in labels) > 0.8 * len(labels)


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others():
    def data(seed):
        return [d for b in blocks(PATTERNED, seed=seed) for d in b.data]

    assert data(3) == data(3)
    assert data(3) != data(4)
