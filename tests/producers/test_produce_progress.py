"""``pipeline produce``: Prometheus metrics during a run; a progress bar on a terminal only."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.emulator

ENV = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


@pytest.fixture
def stream(client, name):
    client("kinesis").create_stream(StreamName=name, ShardCount=1)
    return name


def command(emulator, *args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "--endpoint-url", emulator.endpoint_url, *args]


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def scrape(url: str) -> dict[str, float]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def test_a_long_run_serves_its_metrics_and_draws_no_bar_when_piped(emulator, stream):
    args = command(emulator, "produce", "iot", "--count", "2000", "--rate", "400")
    process = subprocess.Popen(
        [*args, "--metrics-port", "0"],
        env={**ENV, "PIPELINE_NAMES_STREAM": stream},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    announced = wait_for(lambda: [ln for ln in list(lines) if ln.startswith("metrics: ")], 60, "")
    port = int(announced[0].rsplit(":", 1)[1].split("/")[0])
    url = f"http://127.0.0.1:{port}/metrics"
    during = wait_for(
        lambda: (s := scrape(url)) and 0 < s.get("kpipe_producer_records_total", 0) < 2000 and s,
        60,
        "records counted while the run goes on",
    )
    assert during["kpipe_producer_put_records_calls_total"] >= 1
    assert during["kpipe_producer_failed_records_total"] == 0
    assert during["kpipe_producer_bytes_total"] > during["kpipe_producer_records_total"]
    stdout, _ = process.communicate(timeout=120)
    reader.join(timeout=10)
    assert process.returncode == 0, "".join(lines)
    assert stdout.startswith("sent 2,000 records in 2,000 Kinesis records")
    assert lines == announced  # nothing else on stderr: no bar, no rate lines


def test_on_a_terminal_a_bar_shows_how_far_the_run_is(emulator, stream):
    """stderr on a pseudo-terminal, as in an interactive shell: the bar reaches 100%."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command(emulator, "produce", "web", "--count", "1500"),
        env={**ENV, "PIPELINE_NAMES_STREAM": stream, "COLUMNS": "160"},
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    drawn = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        assert ready, "the command hung"
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        drawn += chunk
    stdout, _ = process.communicate(timeout=60)
    os.close(controller)
    assert process.returncode == 0, drawn.decode()
    text = drawn.decode()
    assert "producing" in text and "100%" in text
    assert "1,500 records" in text  # the rates ride along
    assert stdout.startswith("sent 1,500 records")
