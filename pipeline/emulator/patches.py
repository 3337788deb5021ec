"""One switch for every fidelity patch, so both entry points install them exactly once."""

from __future__ import annotations

import logging
import threading

from pipeline.emulator import dynamodb, firehose, kinesis

log = logging.getLogger(__name__)

_lock = threading.Lock()
_installed = threading.Event()


def install_patches() -> None:
    """Patch moto's Kinesis, Firehose and DynamoDB models in this process (idempotent)."""
    with _lock:
        if _installed.is_set():
            return
        kinesis.install()
        firehose.install()
        dynamodb.install()
        _installed.set()
    log.debug("moto fidelity patches installed")
