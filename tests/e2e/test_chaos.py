"""`pipeline chaos` in its CI size: faults of every kind, consumer kills, a split and a merge."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


def test_a_short_chaos_run_loses_nothing_and_mismatches_nothing(tmp_path):
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "chaos",
        "--events",
        "6000",
        "--kills",
        "4",
        "--seed",
        "11",
        "--keep",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    table = dict(line.rsplit(None, 1) for line in done.stdout.splitlines() if line.strip())
    assert table["mismatches (must be 0)"] == "0"
    assert table["lost (must be 0)"] == "0"
    assert table["consumer kills"] == "4"
    assert int(table["faults injected"]) > 100
    assert int(table["duplicates removed"]) > 0
    assert "split" in done.stdout and "merge" in done.stdout
    # a stranger's records (clocks years ahead, stray control records): dead letters, and no
    # watermark moved by them (else the oracle's late events and windows would not match)
    assert table["stray records (skewed clocks, control)"] == "6"
    assert int(table["dead letters"]) >= 6
