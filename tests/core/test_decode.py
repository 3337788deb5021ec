import msgspec

from pipeline.config import shipped_event_type as event_type
from pipeline.core.events.decode import EVENT_TIME, Decoder
from pipeline.testing import iot_event

decoder = Decoder(event_type("iot"))
GOOD = msgspec.json.encode(iot_event(1, 1_767_225_600_000))


def test_valid_batch_becomes_columns_with_event_time():
    batch = decoder.decode([GOOD, msgspec.json.encode(iot_event(2, 1_767_225_601_000))])
    assert batch.rejects == []
    assert batch.events.column("event_id").to_pylist() == ["e-1", "e-2"]
    assert batch.events.column(EVENT_TIME).to_pylist() == [1_767_225_600_000, 1_767_225_601_000]


def test_each_bad_record_is_rejected_with_a_reason_naming_the_problem():
    bad = [
        b"not json",
        b"",
        b"[1, 2]",
        b"\xff\xfe",
        msgspec.json.encode({**iot_event(3, 1_767_225_600_000), "temperature": "hot"}),
        msgspec.json.encode({**iot_event(4, 1_767_225_600_000), "ts": True}),
        msgspec.json.encode({**iot_event(5, 1_767_225_600_000), "battery": 150.0}),
        msgspec.json.encode(
            {k: v for k, v in iot_event(6, 1_767_225_600_000).items() if k != "device_id"}
        ),
        msgspec.json.encode({**iot_event(7, 1_767_225_600_000), "ts": 10}),
    ]
    batch = decoder.decode([GOOD, *bad])
    assert batch.events.num_rows == 1
    reasons = {r.index: r.reason for r in batch.rejects}
    assert sorted(reasons) == list(range(1, len(bad) + 1))
    assert reasons[1].startswith("invalid JSON")
    assert reasons[3] == "schema violation: Expected `object`, got `array`"
    assert "$.temperature" in reasons[5]
    assert "Expected `int`, got `bool` - at `$.ts`" in reasons[6]
    assert "<= 100.0 - at `$.battery`" in reasons[7]
    assert "missing required field `device_id`" in reasons[8]
    assert "$.ts" in reasons[9]


def test_invalid_utf8_anywhere_is_rejected_even_in_unknown_fields():
    hidden = GOOD[:-1] + b',"note":"caf\xe9"}'
    split = GOOD[:-1] + b',"note":"\xc3'  # the rest of the sequence starts the next payload
    batch = decoder.decode([hidden, split, b'\xa9"}', GOOD])
    assert [r.index for r in batch.rejects] == [0, 1, 2]
    assert (
        batch.rejects[0].reason
        == f"invalid UTF-8: invalid continuation byte at byte {len(GOOD) + 11}"
    )
    assert batch.events.num_rows == 1


def test_validity_does_not_depend_on_the_neighbours():
    odd = msgspec.json.encode({**iot_event(9, 1_767_225_600_000), "extra": {"nested": [1, 2]}})
    alone = decoder.decode([odd])
    beside_bad = decoder.decode([b"{", odd])
    assert alone.events.num_rows == 1 and beside_bad.events.num_rows == 1
    assert alone.events.drop_columns(["record_index"]) == beside_bad.events.drop_columns(
        ["record_index"]
    )


def test_web_record_time_in_seconds_becomes_milliseconds():
    web = Decoder(event_type("web"))
    payload = {
        "event_id": "w1",
        "recordTime": 1486505943.204,
        "cognitoId": "us-east-1:x",
        "os": "Android",
        "quadrant": "A",
    }
    batch = web.decode([msgspec.json.encode(payload)])
    assert batch.events.column(EVENT_TIME).to_pylist() == [1_486_505_943_204]


def test_duplicated_keys_are_rejected_at_any_depth_whatever_the_layout():
    dup_top = GOOD[:-1] + b',"site":"elsewhere"}'
    dup_nested = GOOD[:-1] + b',"extra":{"a":1,"a":2}}'
    spaced = msgspec.json.encode(iot_event(8, 1_767_225_600_000)).replace(b":", b": ")
    nested_ok = GOOD[:-1] + b',"extra":{"a":1,"b":null}}'
    batch = decoder.decode([GOOD, dup_top, dup_nested, spaced, nested_ok])
    reasons = {r.index: r.reason for r in batch.rejects}
    assert reasons == {
        1: "duplicate key 'site': the value would be ambiguous",
        2: "duplicate key 'a': the value would be ambiguous",
    }
    assert batch.events.num_rows == 3


def test_deep_nesting_and_oversized_payloads_are_rejected_not_raised():
    deep = GOOD[:-1] + b',"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    big = GOOD[:-1] + b',"note":"' + b"x" * 300_000 + b'"}'
    batch = Decoder(event_type("iot"), max_bytes=256 * 1024).decode([deep, GOOD, big])
    reasons = {r.index: r.reason for r in batch.rejects}
    assert reasons[0] == "invalid JSON: nested too deeply"
    assert reasons[2] == f"oversized payload: {len(big)} bytes > {256 * 1024}"
    assert batch.events.num_rows == 1
