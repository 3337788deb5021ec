"""One emulator process per KCL scenario module (its moto state and its threads are its own)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.kcl.harness import ROOT, free_port, wait_until


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """One emulator process per scenario module."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "emulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def accepting() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                assert process.poll() is None, "the emulator exited"
                return False

        wait_until(accepting, 60, "the emulator to accept connections")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
