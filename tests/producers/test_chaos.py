"""Seeded chaos: byte-identical for a seed, rates as asked, every label exact."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import msgspec
import numpy as np
import pytest

from pipeline.core.events.decode import MAX_EVENT_BYTES
from pipeline.core.records import RawRecord
from producers.block import NO_TIME, Outgoing
from producers.chaos import (
    HOT_KEY,
    LATE_MARGIN_MS,
    LATE_RECENT_MS,
    MAX_DUPLICATE_DELAY_MS,
    ChaosOptions,
)
from producers.malformed import MALFORMED_KINDS
from producers.run import ProduceOptions, outgoing, outgoing_blocks, write_file
from producers.truth import read_truth
from tests.producers.outcomes import consumed, outcome_of

CHAOS = ChaosOptions(duplicates=0.03, out_of_order=0.05, late=0.02, malformed=0.03, hot_keys=0.02)


@pytest.mark.parametrize("source", ["iot", "web"])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, source):
    def run(seed: int, name: str) -> bytes:
        options = ProduceOptions(
            source=source, devices=30, minutes=4, seed=seed, chaos=CHAOS, truth=tmp_path / name
        )
        write_file(options, tmp_path / f"{name}.ndjson")
        return (tmp_path / f"{name}.ndjson").read_bytes() + (tmp_path / name).read_bytes()

    first, again, other = run(7, "a"), run(7, "b"), run(8, "c")
    assert hashlib.sha256(first).digest() == hashlib.sha256(again).digest()
    assert first != other


@pytest.mark.parametrize("source", ["iot", "web"])
def test_injection_rates_are_as_asked(source):
    records = list(
        outgoing(ProduceOptions(source=source, devices=120, minutes=20, seed=3, chaos=CHAOS))
    )
    sent = len(records) - sum("duplicate_of" in r.labels for r in records)  # the clean events
    counts = Counter(key for r in records for key in r.labels)
    assert sent > 15_000
    for label, rate in (
        ("malformed", 0.03),
        ("late", 0.02),
        ("out_of_order", 0.05),
        ("hot_key", 0.02),
        ("duplicate_of", 0.03),
    ):
        assert abs(counts[label] / sent - rate) < 0.2 * rate, (label, counts[label], sent)
    kinds = Counter(r.labels["malformed"] for r in records if "malformed" in r.labels)
    assert set(kinds) == set(MALFORMED_KINDS)
    assert min(kinds.values()) > 0.5 * counts["malformed"] / len(MALFORMED_KINDS)


@pytest.mark.parametrize("source", ["iot", "web"])
def test_on_one_shard_the_consumer_does_exactly_what_each_label_says(source):
    records = list(
        outgoing(ProduceOptions(source=source, devices=40, minutes=15, seed=5, chaos=CHAOS))
    )
    got = consumed(source, "s", [_raw(r, i) for i, r in enumerate(records)])
    assert [outcome for _, outcome in got] == [outcome_of(r.labels) for r in records]


def test_each_label_keeps_its_promise():
    options = ProduceOptions(devices=40, minutes=20, seed=2, chaos=CHAOS)
    lateness, disorder = options.chaos.allowed_lateness_ms, options.chaos.disorder_ms
    blocks = list(outgoing_blocks(options))
    data = [d for b in blocks for d in b.data]
    keys = [k for b in blocks for k in b.keys]
    labels = [b.labels.get(row, {}) for b in blocks for row in range(len(b))]
    ts = np.concatenate([b.ts for b in blocks])
    counted = ts.copy()
    counted[[i for i, x in enumerate(labels) if {"late", "duplicate_of"} & x.keys()]] = NO_TIME
    newest_before = np.concatenate([[NO_TIME], np.maximum.accumulate(counted)[:-1]])
    first_copy: dict[bytes, int] = {}
    last_own: dict[str, int] = {}
    for i, (record, key, label) in enumerate(zip(data, keys, labels, strict=True)):
        if "duplicate_of" in label:  # an exact copy of an earlier record, once the stream moved on
            original = first_copy[record]
            assert msgspec.json.decode(record)["event_id"] == label["duplicate_of"]
            assert keys[original] == key
            assert lateness < newest_before[i] - ts[original] <= MAX_DUPLICATE_DELAY_MS + 15_000
        first_copy.setdefault(record, i)
        if label.get("out_of_order"):
            assert newest_before[i] - ts[i] <= disorder
        if label.get("late"):
            assert msgspec.json.decode(record)["event_id"].endswith("-late")
            assert last_own[key] >= ts[i] + lateness + LATE_MARGIN_MS - LATE_RECENT_MS
        if label.get("hot_key"):
            assert key == HOT_KEY
        elif not label:
            assert key == msgspec.json.decode(record)["device_id"]
            last_own[key] = max(last_own.get(key, NO_TIME), int(ts[i]))
        if label.get("malformed") == "oversized":
            assert MAX_EVENT_BYTES < len(record) < 1024 * 1024
    assert HOT_KEY not in [k for k, x in zip(keys, labels, strict=True) if not x.get("hot_key")]


def test_the_truth_file_lists_every_record_with_its_labels(tmp_path):
    options = ProduceOptions(devices=10, minutes=3, seed=4, chaos=CHAOS, truth=tmp_path / "t.jsonl")
    written = write_file(options, tmp_path / "out.ndjson")
    truth = read_truth(tmp_path / "t.jsonl")
    sent = (tmp_path / "out.ndjson").read_bytes().split(b"\n")[:-1]
    assert [line["n"] for line in truth] == list(range(written))
    assert [line["data"] for line in truth] == sent
    assert any("payload_b64" in line for line in truth)  # invalid UTF-8 kept exact
    raw = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert list(raw) == ["n", "partition_key", "payload", "labels"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"late": 1.5}, "--late must be a rate between 0 and 1"),
        ({"malformed": 0.6, "late": 0.5}, "must not add up to over 1"),
        ({"out_of_order": 0.1, "max_disorder_ms": 40_000}, "must be below --lateness"),
        ({"lateness_ms": -1}, "must not be negative"),
    ],
)
def test_bad_chaos_options_are_refused_with_a_clear_message(options, message):
    with pytest.raises(ValueError, match=message):
        ProduceOptions(source="iot", chaos=ChaosOptions(**options))


def _raw(record: Outgoing, i: int) -> RawRecord:
    return RawRecord(record.data, record.partition_key, str(i + 1))
