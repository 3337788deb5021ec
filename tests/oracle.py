"""An independent, record-at-a-time implementation of the window semantics, for tests.

Deliberately naive (dicts and loops, no Arrow): results of the real, batched core must equal
this on any input and any batch split.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

NO_TIME = -(2**62)


def oracle(events: list[dict[str, Any]], size_ms: int, lateness_ms: int, group_by: tuple[str, ...]):
    """Returns (results, late ids): results map (window start, group) -> metrics."""
    seen: set[str] = set()
    newest = NO_TIME
    windows: dict[tuple, list[dict]] = defaultdict(list)
    late: list[str] = []
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        ts = event["ts"]
        start = ts - ts % size_ms
        if start + size_ms <= newest - lateness_ms:
            late.append(event["event_id"])
        else:
            windows[(start, tuple(event[g] for g in group_by))].append(event)
        newest = max(newest, ts)
    results = {}
    for key, members in windows.items():
        temps = [e["temperature"] for e in members if e["temperature"] is not None]
        batteries = [e["battery"] for e in members if e["battery"] is not None]
        results[key] = {
            "events": len(members),
            "temperature_avg": sum(temps) / len(temps) if temps else None,
            "temperature_min": min(temps) if temps else None,
            "temperature_max": max(temps) if temps else None,
            "battery_min": min(batteries) if batteries else None,
        }
    return results, late
