"""What ``consume`` shows while it runs: a bar of shards at their end with lags, on a terminal."""

from __future__ import annotations

import io
import sys

from consumers.cli import ShardWatch
from consumers.kcl.status import ShardStatus
from pipeline.config import load_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def statuses() -> list[ShardStatus]:
    def shard(n: int, state: str, records: int, behind: int, rate: float) -> ShardStatus:
        return ShardStatus(
            shard_id=f"shardId-00000000000{n}",
            state=state,
            pid=1,
            updated_s=0,
            records=records,
            records_per_second=rate,
            millis_behind_latest=behind,
        )

    return [
        shard(0, "ended", 1_000, 0, 0.0),
        shard(1, "processing", 2_500, 2_500, 400.0),
        shard(2, "processing", 300, 100, 50.0),
        shard(3, "processing", 40, 7_000, 10.0),
        shard(4, "processing", 5, 0, 0.0),
    ]


def test_on_a_terminal_the_bar_counts_ended_shards_and_shows_the_worst_lags(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with ShardWatch(load_config(env={})) as watch:
        watch(statuses())
    drawn = terminal.getvalue()
    assert "consuming" in drawn and "1/5" in drawn
    assert "3,845 records, 460/s; behind: 3 7.0s, 1 2.5s, 2 0.1s +2" in drawn


def test_off_a_terminal_nothing_is_drawn(monkeypatch):
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    with ShardWatch(load_config(env={})) as watch:
        watch(statuses(), final=True)
    assert piped.getvalue() == ""
