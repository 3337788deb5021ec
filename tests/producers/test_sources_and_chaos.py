"""Seeded sources and chaos: byte-identical for a seed, rates as asked, labels exact."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import msgspec
import pytest

from pipeline.config import load_config
from pipeline.core import ShardCore
from pipeline.events.schema import event_type
from pipeline.records import RawRecord
from pipeline.windows.spec import compile_jobs
from producers.chaos import HOT_KEY, MALFORMED_KINDS, ChaosOptions
from producers.run import ProduceOptions, outgoing, write_file

CHAOS = ChaosOptions(duplicates=0.03, out_of_order=0.05, late=0.02, malformed=0.03, hot_keys=0.02)
#: web's job allows 2 s of lateness: out-of-order holds stay under it
WEB_CHAOS = ChaosOptions(
    duplicates=0.03,
    out_of_order=0.05,
    max_disorder_ms=1_000,
    late=0.02,
    lateness_ms=2_000,
    malformed=0.03,
    hot_keys=0.02,
)


def chaos(source: str) -> ChaosOptions:
    return CHAOS if source == "iot" else WEB_CHAOS


@pytest.mark.parametrize("source", ["iot", "web"])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, source):
    def run(seed: int, name: str) -> bytes:
        options = ProduceOptions(
            source=source,
            devices=30,
            minutes=4,
            seed=seed,
            chaos=CHAOS,
            truth=tmp_path / f"{name}.truth",
        )
        write_file(options, tmp_path / f"{name}.ndjson")
        return (tmp_path / f"{name}.ndjson").read_bytes() + (
            tmp_path / f"{name}.truth"
        ).read_bytes()

    first, again, other = run(7, "a"), run(7, "b"), run(8, "c")
    assert hashlib.sha256(first).digest() == hashlib.sha256(again).digest()
    assert first != other


@pytest.mark.parametrize("source", ["iot", "web"])
def test_injection_rates_are_as_asked(source):
    records = list(
        outgoing(ProduceOptions(source=source, devices=80, minutes=20, seed=3, chaos=CHAOS))
    )
    clean = sum(1 for r in records if not ({"duplicate_of", "malformed", "late"} & r.labels.keys()))
    total = len(records) - sum("duplicate_of" in r.labels for r in records)
    counts = Counter(key for r in records for key in r.labels)
    assert total > 8_000
    for label, rate in (
        ("malformed", 0.03),
        ("late", 0.02),
        ("out_of_order", 0.05),
        ("hot_key", 0.02),
    ):
        assert abs(counts[label] / total - rate) < 0.35 * rate, (label, counts[label], total)
    assert abs(counts["duplicate_of"] / total - 0.03) < 0.35 * 0.03
    kinds = Counter(r.labels["malformed"] for r in records if "malformed" in r.labels)
    assert set(kinds) == set(MALFORMED_KINDS)
    assert clean > 0.8 * total
    assert all(r.partition_key == HOT_KEY for r in records if r.labels.get("hot_key"))


@pytest.mark.parametrize("source", ["iot", "web"])
def test_labels_say_exactly_what_the_consumer_does(source):
    """One shard, records in send order: late = labelled late, dead letters = labelled
    malformed, duplicates = labelled copies; out-of-order and hot-key events count normally."""
    records = list(
        outgoing(ProduceOptions(source=source, devices=40, minutes=15, seed=5, chaos=chaos(source)))
    )
    config = load_config(env={})
    core = ShardCore(
        event_type(source), compile_jobs(config.jobs_for(source)), "s", dedupe_horizon_ms=600_000
    )
    raw = [RawRecord(r.data, r.partition_key, str(i + 1)) for i, r in enumerate(records)]
    late, dead, duplicates, counted = set(), set(), 0, set()
    for start in range(0, len(raw), 500):
        outcome = core.process(raw[start : start + 500])
        late |= {int(e.sequence_number) - 1 for e in outcome.late}
        dead |= {int(d.sequence_number) - 1 for d in outcome.dead_letters}
        duplicates += outcome.counters.duplicates
        counted |= {int(r.sequence_number) - 1 for r in outcome.events}
    assert dead == {i for i, r in enumerate(records) if "malformed" in r.labels}
    assert late == {i for i, r in enumerate(records) if r.labels.get("late")}
    assert duplicates == sum("duplicate_of" in r.labels for r in records)
    assert {i for i, r in enumerate(records) if r.labels.get("out_of_order")} <= counted - late


def test_duplicates_name_their_original_and_copy_it_exactly():
    records = list(
        outgoing(ProduceOptions(devices=20, minutes=10, seed=2, chaos=ChaosOptions(duplicates=0.1)))
    )
    seen = {}
    for record in records:
        event_id = msgspec.json.decode(record.data)["event_id"]
        if "duplicate_of" in record.labels:
            assert record.labels["duplicate_of"] == event_id and seen[event_id] == record.data
        else:
            seen[event_id] = record.data


def test_the_truth_file_lists_every_record_with_its_labels(tmp_path):
    options = ProduceOptions(
        devices=10, minutes=3, seed=4, chaos=CHAOS, truth=tmp_path / "truth.jsonl"
    )
    written = write_file(options, tmp_path / "out.ndjson")
    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    sent = (tmp_path / "out.ndjson").read_bytes().split(b"\n")[:-1]
    assert [line["n"] for line in truth] == list(range(written))
    for line, data in zip(truth, sent, strict=True):
        payload = (
            line["payload"].encode()
            if "payload" in line
            else __import__("base64").b64decode(line["payload_b64"])
        )
        assert payload == data
    assert any("payload_b64" in line for line in truth)  # invalid UTF-8 kept exact
