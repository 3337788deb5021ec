"""Per-shard status files: how the KCL's child processes report to the daemon's launcher.

The MultiLangDaemon runs one child process per shard lease and owns their stdin/stdout, so each
child writes its shard's status (counters, rate, lag, last checkpoint, state) as one small JSON
file in a directory the launcher names (``KPIPE_KCL_STATUS_DIR``), replaced atomically after
every lifecycle call. The launcher reads them to serve metrics and to know when a bounded input
is fully consumed. Counters are restored with the shard's state snapshot, so they count each
record once across restarts and lease moves.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import msgspec

STATUS_DIR_ENV = "KPIPE_KCL_STATUS_DIR"

#: Lifecycle states, in the order a lease goes through them.
STATES = ("initializing", "processing", "ended", "lease_lost", "shut_down", "failed")


class ShardStatus(msgspec.Struct, kw_only=True):
    shard_id: str
    state: str
    pid: int
    updated_s: float
    #: When this process took the lease (``initialize``), epoch seconds.
    started_s: float = 0.0
    records: int = 0
    events: int = 0
    duplicates: int = 0
    late: int = 0
    dead_letters: int = 0
    results: int = 0
    records_per_second: float = 0.0
    millis_behind_latest: int = 0
    #: The last checkpoint written (``sequence`` or ``sequence/sub``, or SHARD_END); "" if none.
    checkpoint: str = ""
    checkpoint_s: float = 0.0
    #: The shard's producer sent its end-of-stream marker and it is checkpointed.
    end_of_stream: bool = False
    error: str = ""


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(ShardStatus).decode


class RateMeter:
    """Records per second over a sliding window of wall-clock time."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self.clock = clock
        self._points: deque[tuple[float, int]] = deque()

    def observe(self, total: int) -> float:
        now = self.clock()
        points = self._points
        points.append((now, total))
        while len(points) > 2 and now - points[1][0] >= self.window_s:
            points.popleft()
        first_time, first_total = points[0]
        elapsed = now - first_time
        return (total - first_total) / elapsed if elapsed > 0 else 0.0


class StatusFile:
    """One shard's status file; :meth:`write` replaces it atomically."""

    def __init__(self, directory: str | Path, shard_id: str) -> None:
        self.path = Path(directory) / f"{shard_id}.json"

    def write(self, status: ShardStatus) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_bytes(_encode(status))
        os.replace(temporary, self.path)


def read_statuses(directory: str | Path) -> list[ShardStatus]:
    """Every shard's latest status, by shard id (unreadable files are skipped)."""
    statuses = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            statuses.append(_decode(path.read_bytes()))
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            continue
    return statuses
