"""Hostile input: every malformed record is dead-lettered with a reason, nothing crashes or
stalls, valid neighbours are still counted, and memory stays bounded.

Hypothesis mixes valid events with records built to break decoders (invalid UTF-8, invalid JSON,
huge numbers, NaN/Infinity, deep nesting, duplicated keys, oversized payloads, wrong types,
absurd timestamps, empty records, KPL-magic prefixes with broken protobuf or a wrong MD5). The
longer run is ``HYPOTHESIS_PROFILE=fuzz-long pytest tests/fuzz`` (figures in BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import load_config
from pipeline.config import shipped_event_type as event_type
from pipeline.core.records import RawRecord
from pipeline.core.shard import ShardCore
from pipeline.testing import iot_event

#: ``HYPOTHESIS_PROFILE=fuzz-long`` runs 20,000 examples instead of 150
EXAMPLES = 20_000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz-long" else 150

T0 = 1_767_225_600_000
JOBS = load_config(env={}).jobs_for("iot")
KPL_MAGIC = b"\xf3\x89\x9a\xc2"
VALID = msgspec.json.encode(iot_event(0, T0))


def _with(field: str, raw: bytes) -> bytes:
    """A valid event whose ``field`` holds ``raw`` (raw JSON text, possibly not JSON)."""
    body = msgspec.json.encode({k: v for k, v in iot_event(0, T0).items() if k != field})
    return body[:-1] + b',"' + field.encode() + b'":' + raw + b"}"


hostile = st.one_of(
    st.binary(min_size=1, max_size=64).map(lambda b: b"\xff" + b),  # invalid UTF-8 at the start
    st.sampled_from([VALID[:-1] + b',"x":"\xc3\x28"}', VALID[:10] + b"\xe2\x82" + VALID[10:]]),
    st.binary(max_size=200).filter(lambda b: not b.strip().startswith(b"{")),  # not an object
    st.integers(1, len(VALID) - 1).map(lambda n: VALID[:n]),  # truncated JSON
    st.sampled_from([b"", b" ", b"null", b"[]", b"{}", b'{"a":1,}', b"{'a':1}"]),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 400]).map(
        lambda n: _with("temperature", n.encode())
    ),
    st.sampled_from(["10" * 30, "-1", "0", "4102444800000", "1e12", '"1767225600000"', "true"]).map(
        lambda n: _with("ts", n.encode())
    ),
    st.sampled_from(["1", "null", "[]", '""', '"' + "d" * 300 + '"', "{}"]).map(
        lambda v: _with("device_id", v.encode())
    ),
    st.integers(2_000, 50_000).map(lambda d: VALID[:-1] + b',"n":' + b"[" * d + b"]" * d + b"}"),
    st.sampled_from(["site", "ts", "event_id", "temperature"]).map(
        lambda k: (
            VALID[:-1]
            + b',"'
            + k.encode()
            + b'":'
            + msgspec.json.encode(iot_event(0, T0)[k])
            + b"}"
        )
    ),
    st.integers(300_000, 1_048_000).map(lambda n: VALID[:-1] + b',"pad":"' + b"x" * n + b'"}'),
    st.binary(max_size=100).map(lambda b: KPL_MAGIC + b),  # broken protobuf
    st.binary(max_size=100).map(
        lambda b: KPL_MAGIC + b + hashlib.md5(b + b"!").digest()
    ),  # bad MD5
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(st.booleans(), hostile, st.integers(0, 50_000)), min_size=1, max_size=30),
    st.integers(1, 10),
)
def test_every_hostile_record_is_dead_lettered_and_valid_ones_still_count(mix, batch_size):
    core = ShardCore(event_type("iot"), JOBS, "shard-f")
    records, expected_dead, expected_events = [], set(), 0
    for i, (valid, bad, offset) in enumerate(mix):
        sequence = str(i + 1)
        if valid:
            records.append(RawRecord(msgspec.json.encode(iot_event(i, T0 + offset)), "k", sequence))
            expected_events += 1
        else:
            records.append(RawRecord(bad, "k", sequence))
            expected_dead.add(sequence)
    dead, events = {}, 0
    for start in range(0, len(records), batch_size):
        outcome = core.process(records[start : start + batch_size])
        dead.update({d.sequence_number: d.reason for d in outcome.dead_letters})
        events += len(outcome.events)
    assert set(dead) == expected_dead
    assert all(reason for reason in dead.values())
    assert events == expected_events


def test_memory_stays_bounded_on_a_stream_of_huge_hostile_records():
    core = ShardCore(event_type("iot"), JOBS, "shard-m")
    huge = VALID[:-1] + b',"pad":"' + b"x" * 1_000_000 + b'"}'
    deep = VALID[:-1] + b',"n":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    tracemalloc.start()
    peaks = []
    for batch in range(20):
        records = [
            RawRecord(payload, "k", str(batch * 3 + i + 1))
            for i, payload in enumerate((huge, deep, VALID))
        ]
        outcome = core.process(records)
        assert len(outcome.dead_letters) == 2
        del outcome, records
        peaks.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    assert max(peaks[5:]) < peaks[4] + 1_000_000  # no growth with the number of bad records
