"""``pipeline demo --engine kcl``: the whole demo through the real MultiLangDaemon (Java).

Same output contract as the local engine's demo, and the same results on the same input: the
same seed gives the same records, so both engines' results tables must be equal (averages to
1e-12: a sum depends on how records were batched) and equal the oracle, and their reports equal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.oracle_sql import assert_results_equal_oracle, device_minute_oracle

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


def run_demo(out: Path, engine: str) -> str:
    command = [sys.executable, "-m", "pipeline.cli", "demo", "--engine", engine, "--out", str(out)]
    command += ["--devices", "12", "--minutes", "6", "--seed", "5", "--duplicates", "0.05"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    outs = {engine: tmp_path_factory.mktemp(engine) for engine in ("kcl", "local")}
    return {engine: (out, run_demo(out, engine)) for engine, out in outs.items()}


def items(out: Path) -> dict[tuple[str, int], dict[str, Any]]:
    (table,) = (out / "dynamodb").glob("*.jsonl")
    rows = [json.loads(line) for line in table.read_text().splitlines()]
    return {(row["pk"], row["sk"]): row for row in rows}


def test_the_kcl_demo_keeps_the_output_contract_and_equals_the_oracle(demos):
    out, stdout = demos["kcl"]
    truth_lines = [
        json.loads(line) for line in (out / "truth" / "events.jsonl").read_text().splitlines()
    ]
    duplicates = sum("duplicate_of" in line["labels"] for line in truth_lines)
    events = len(truth_lines) - duplicates - 2  # the two end-of-stream markers
    summary = f"{len(truth_lines)} records sent; {events} events kept, {duplicates} duplicates"
    assert f"Demo done: {summary} dropped" in stdout
    assert {p.name for p in out.iterdir()} == {"truth", "dynamodb", "lake", "reports"}
    truth = out / "truth" / "events.jsonl"
    assert_results_equal_oracle(list(items(out).values()), device_minute_oracle(truth))


def test_both_engines_give_the_same_results_on_the_same_input(demos):
    (kcl_out, kcl_stdout), (local_out, local_stdout) = demos["kcl"], demos["local"]
    assert kcl_stdout == local_stdout.replace(str(local_out), str(kcl_out))
    assert (kcl_out / "truth" / "events.jsonl").read_bytes() == (
        local_out / "truth" / "events.jsonl"
    ).read_bytes()
    kcl, local = items(kcl_out), items(local_out)
    assert kcl.keys() == local.keys()
    for key, row in kcl.items():
        for column, value in row.items():
            if column.endswith("_avg") and value is not None:
                assert local[key][column] == pytest.approx(value, rel=1e-12), (key, column)
            else:
                assert local[key][column] == value, (key, column)
    for report in sorted((local_out / "reports").glob("*.csv")):
        assert (kcl_out / "reports" / report.name).read_text() == report.read_text(), report.name
