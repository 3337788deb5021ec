"""A stand-in for ``java ... MultiLangDaemon`` to test the launcher without Java.

Run as ``python fake_daemon.py -cp ... MAIN --properties-file F --log-configuration L``; what it
does comes from ``FAKE_DAEMON``: ``serve`` (until SIGTERM, then exit 143 like the JVM),
``fail-processor`` (a child reported a failure, the daemon exits 1), ``exit`` (exit 1),
``hang`` (ignores SIGTERM). It records its arguments and environment in ``fake-daemon.json``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from consumers.kcl.status import STATUS_DIR_ENV, ShardStatus, StatusFile


def main() -> int:
    mode = os.environ["FAKE_DAEMON"]
    if mode == "serve":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if mode == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # written once the signals are set up: tests stop the daemon only after this
    properties = Path(sys.argv[sys.argv.index("--properties-file") + 1])
    record = {"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items()}}
    (properties.parent / "fake-daemon.json").write_text(json.dumps(record))
    if mode == "fail-processor":
        failed = ShardStatus(
            shard_id="shardId-000000000007",
            state="failed",
            pid=os.getpid(),
            updated_s=time.time(),
            error="SinkError: results table unavailable",
        )
        StatusFile(os.environ[STATUS_DIR_ENV], failed.shard_id).write(failed)
        return 1
    if mode == "exit":
        return 1
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
