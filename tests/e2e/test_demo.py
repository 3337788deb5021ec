"""The demo contract, end to end: `pipeline demo --out DIR`, checked against the ground truth.

The oracle is computed independently of the consumer (tests/oracle_sql.py: DuckDB SQL over the
producer's truth file).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.oracle_sql import assert_results_equal_oracle, device_minute_oracle

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "demo",
        "--out",
        str(out),
        "--devices",
        "12",
        "--minutes",
        "6",
        "--seed",
        "5",
        "--duplicates",
        "0.05",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Demo done:" in completed.stdout
    return out


def test_truth_labels_every_duplicate(demo):
    lines = [
        json.loads(line) for line in (demo / "truth" / "events.jsonl").read_text().splitlines()
    ]
    assert [line["n"] for line in lines] == list(range(len(lines)))
    first_seen: dict[str, int] = {}
    duplicates = 0
    for line in lines:
        if line["labels"].get("control"):
            assert json.loads(line["payload"]) == {"_control": "end_of_stream"}
            continue
        event_id = json.loads(line["payload"])["event_id"]
        if "duplicate_of" in line["labels"]:
            assert line["labels"]["duplicate_of"] == event_id and event_id in first_seen
            duplicates += 1
        else:
            assert event_id not in first_seen
            first_seen[event_id] = line["n"]
    assert duplicates > 0


def test_every_dynamodb_result_equals_the_oracle(demo):
    (table,) = (demo / "dynamodb").glob("*.jsonl")
    items = [json.loads(line) for line in table.read_text().splitlines()]
    assert_results_equal_oracle(items, device_minute_oracle(demo / "truth" / "events.jsonl"))


def test_lake_rows_equal_the_distinct_events_sent(demo):
    sent = {}
    for line in (demo / "truth" / "events.jsonl").read_text().splitlines():
        record = json.loads(line)
        if not record["labels"].get("control"):
            payload = json.loads(record["payload"])
            sent[payload["event_id"]] = payload
    rows = ds.dataset(demo / "lake" / "events_iot", format="parquet").to_table().to_pylist()
    assert len(rows) == len(sent)  # no replay in this run: no copy at all, not only in the views
    for row in rows:
        payload = sent[row["event_id"]]
        assert {k: row[k] for k in payload} == payload
        assert row["shard_id"].startswith("shardId-")


def test_reports_and_results_table_are_left_in_the_folder(demo):
    reports = {p.stem for p in (demo / "reports").glob("*.csv")}
    assert {"device_summary", "site_activity", "pipeline_health"} <= reports
    health = (demo / "reports" / "pipeline_health.csv").read_text().splitlines()
    distinct = len(
        {
            json.loads(json.loads(line)["payload"]).get("event_id")
            for line in (demo / "truth" / "events.jsonl").read_text().splitlines()
        }
        - {None}
    )
    assert health[1] == f"events,valid,{distinct}"
