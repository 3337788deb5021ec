"""`pipeline chaos --engine kcl`: KCL workers SIGKILLed mid-run, faults, a split and a merge."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


def test_kcl_workers_killed_under_faults_and_resharding_lose_nothing(tmp_path):
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "chaos",
        "--engine",
        "kcl",
        "--events",
        "6000",
        "--kills",
        "3",
        "--seed",
        "4",
        "--keep",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    table = dict(line.rsplit(None, 1) for line in done.stdout.splitlines() if line.strip())
    assert (table["mismatches (must be 0)"], table["lost (must be 0)"]) == ("0", "0")
    assert table["consumer kills"] == "3"
    assert "split" in done.stdout and "merge" in done.stdout
