"""One switch for every fidelity patch, so both entry points install them exactly once."""

from __future__ import annotations

import logging
import threading

from pipeline.emulator import firehose, kinesis

log = logging.getLogger(__name__)

_lock = threading.Lock()
_installed = threading.Event()


def install_patches() -> None:
    """Patch moto's Kinesis and Firehose models in this process (idempotent, thread-safe)."""
    with _lock:
        if _installed.is_set():
            return
        kinesis.install()
        firehose.install()
        _installed.set()
    log.debug("moto fidelity patches installed")
