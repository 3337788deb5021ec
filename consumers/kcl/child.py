"""``python -m consumers.kcl.child``: the MultiLangDaemon's child process for one shard lease.

stdout is the protocol channel: a stray line there (a ``print`` in user code, a library or a
subprocess writing to fd 1) would corrupt it. So before anything else runs, the real stdout is
duplicated for the protocol alone, and fd 1 and ``sys.stdout`` are pointed at stderr, which the
daemon drains into its own log. Logs are JSON lines on stderr.

The configuration comes from ``PIPELINE_CONFIG`` (the launcher writes the effective one), the
status directory from ``KPIPE_KCL_STATUS_DIR``, the log level from ``KPIPE_KCL_LOG_LEVEL``.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from consumers.kcl.adapter import KclRecordProcessor
from consumers.kcl.framing import FramedKCLProcess
from consumers.kcl.status import STATUS_DIR_ENV
from consumers.processor import ShardProcessor
from pipeline import logs

LOG_LEVEL_ENV = "KPIPE_KCL_LOG_LEVEL"
DEFAULT_FACTORY = "consumers.kcl.child:configured_processor"


def protect_stdout() -> TextIO:
    """Keep the real stdout for the protocol; send everything else written to it to stderr."""
    sys.stdout.flush()
    protocol = io.TextIOWrapper(
        os.fdopen(os.dup(1), "wb"), encoding="utf-8", line_buffering=True, write_through=True
    )
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def configured_processor() -> ShardProcessor:
    """The pipeline's processor for the configuration in the environment."""
    from consumers.app import processor_factory
    from pipeline.aws.clients import AwsClients
    from pipeline.config import load_config

    config = load_config()
    return processor_factory(config, AwsClients(config.aws))()


def load_factory(spec: str) -> Callable[[], ShardProcessor]:
    """``module:callable`` -> the callable (a factory of record processors)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"--factory must look like module:callable, got {spec!r}")
    return getattr(importlib.import_module(module), name)


def main(argv: Sequence[str] | None = None) -> int:
    protocol = protect_stdout()
    # The daemon stops us by closing stdin after shutdown_requested; a Ctrl-C or a cgroup-wide
    # SIGTERM reaching us directly would skip that last checkpoint.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parser = argparse.ArgumentParser(prog="python -m consumers.kcl.child", description=__doc__)
    parser.add_argument(
        "--factory",
        default=DEFAULT_FACTORY,
        help="module:callable returning a ShardProcessor (default: the configured pipeline)",
    )
    args = parser.parse_args(argv)
    logs.configure(os.environ.get(LOG_LEVEL_ENV, "WARNING"))
    processor = load_factory(args.factory)()
    adapter = KclRecordProcessor(processor, os.environ.get(STATUS_DIR_ENV) or None)
    FramedKCLProcess(adapter, sys.stdin, protocol, sys.stderr).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
