"""The reference job on Bytewax (a real stream processor from PyPI), for bench_core.

Same semantics as ours on this input: dedupe by event_id (per device: a duplicate carries its
original's device), per-device 1-minute tumbling windows aligned to the epoch, 30 s allowed
lateness. Bytewax's watermark also advances with system time by default; it is pinned to event
time (a constant ``now_getter``, no wake-ups), as its docs allow, so that results do not depend
on the machine's speed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import bytewax.operators.windowing as win
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PINNED_NOW = EPOCH


def run(lines: list[bytes]) -> dict[tuple[str, int], dict[str, float]]:
    flow = Dataflow("reference")
    events = op.map(
        "parse", op.input("in", flow, TestingSource(lines, batch_size=10_000)), json.loads
    )
    keyed = op.key_on("by_device", events, lambda e: e["device_id"])

    def first_seen(seen: set[str] | None, event: dict) -> tuple[set[str], dict | None]:
        seen = seen or set()
        if event["event_id"] in seen:
            return seen, None
        seen.add(event["event_id"])
        return seen, event

    unique = op.filter_value(
        "unique", op.stateful_map("dedupe", keyed, first_seen), lambda e: e is not None
    )
    clock = win.EventClock(
        lambda e: EPOCH + timedelta(milliseconds=e["ts"]),
        wait_for_system_duration=timedelta(seconds=30),
        now_getter=lambda: PINNED_NOW,
        to_system_utc=lambda _: None,
    )
    windower = win.TumblingWindower(length=timedelta(minutes=1), align_to=EPOCH)

    def fold(state: list[float], e: dict) -> list[float]:
        t, b = e["temperature"], e["battery"]
        if not state:
            return [1, t, t, t, b]
        return [state[0] + 1, state[1] + t, min(state[2], t), max(state[3], t), min(state[4], b)]

    def merge(a: list[float], b: list[float]) -> list[float]:
        return [a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3]), min(a[4], b[4])]

    windows = win.fold_window("windows", unique, clock, windower, list, fold, merge)
    out: list = []
    op.output("out", windows.down, TestingSink(out))
    metas: list = []
    op.output("meta", windows.meta, TestingSink(metas))
    run_main(flow)
    starts = {(key, window_id): meta.open_time for key, (window_id, meta) in metas}
    results = {}
    for key, (window_id, s) in out:
        start = int((starts[(key, window_id)] - EPOCH) / timedelta(milliseconds=1))
        results[(key, start)] = {
            "events": s[0],
            "temperature_avg": s[1] / s[0],
            "temperature_min": s[2],
            "temperature_max": s[3],
            "battery_min": s[4],
        }
    return results
