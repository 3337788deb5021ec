"""No credentials in logs or error messages: a whole run with recognisable fake credentials,
at DEBUG level, and a failing command, must never print them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

CANARIES = {
    "AWS_ACCESS_KEY_ID": "AKIACANARYKEYID12345",
    "AWS_SECRET_ACCESS_KEY": "canarySecretAccessKey/DoNotLeak+0123456789",
    "AWS_SESSION_TOKEN": "canarySessionTokenDoNotLeak0123456789",
}


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **CANARIES}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--log-level", "DEBUG", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_debug_run_and_its_failures_never_print_credentials(tmp_path):
    done = run("demo", "--out", str(tmp_path / "demo"), "--devices", "5", "--minutes", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    failed = run("--endpoint-url", "http://127.0.0.1:9", "provision")  # nothing listens there
    assert failed.returncode == 1 and "Error" in failed.stderr
    output = done.stdout + done.stderr + failed.stdout + failed.stderr
    assert len(output) > 1000  # the run did log
    for name, secret in CANARIES.items():
        assert secret not in output, f"{name} leaked"
        assert secret[:12] not in output, f"a prefix of {name} leaked"
