"""The real child process: only protocol lines ever reach stdout, whatever user code prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from consumers.kcl.status import STATUS_DIR_ENV, read_statuses
from pipeline.testing import iot_event
from tests.kcl.test_protocol import (
    SHARD,
    T0,
    checkpoint,
    checkpoint_reply,
    initialize,
    process,
    record,
    status,
)

ROOT = Path(__file__).resolve().parents[2]
CHILD = [sys.executable, "-m", "consumers.kcl.child", "--factory"]


def run_child(
    messages: list[dict[str, Any]], status_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The child as the daemon starts it, with the fake processor whose user code prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    if status_dir is not None:
        env[STATUS_DIR_ENV] = str(status_dir)
    return subprocess.run(
        [*CHILD, "tests.kcl.fakes:printing_processor"],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_stray_prints_go_to_stderr_and_the_protocol_stays_clean(tmp_path):
    child = run_child(
        [
            initialize(),
            process(record(1, iot_event(1, T0)), record(2, iot_event(2, T0))),
            checkpoint_reply("2"),
            {"action": "shutdownRequested"},
        ],
        tmp_path,
    )
    assert child.returncode == 0, child.stderr
    lines = [line for line in child.stdout.splitlines() if line.strip()]
    assert [json.loads(line) for line in lines] == [
        status("initialize"),
        checkpoint("2"),
        status("processRecords"),
        status("shutdownRequested"),  # already checkpointed: nothing more to write
    ]
    assert "a library printing at import time" in child.stderr
    assert "stray output from user code: 2 events" in child.stderr
    (shard,) = read_statuses(tmp_path)
    assert (shard.shard_id, shard.state, shard.checkpoint, shard.events) == (
        SHARD,
        "shut_down",
        "2",
        2,
    )


def test_a_failing_processor_exits_with_status_3_for_the_daemon_to_notice():
    child = run_child([initialize("42")])  # a checkpoint with no snapshot: refuses to start
    assert child.returncode == 3
    assert child.stdout.strip() == ""
    assert "has no state snapshot" in child.stderr
