"""Each report's expected result, computed from the ground truth with plain Python (no SQL and no
code of the consumer): what a correct pipeline and a correct report must give."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import msgspec

from tests.reports.lake_run import Sent

MINUTE = 60_000
LATENESS_MS = 30_000


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def round_half_up(value: float, digits: int = 2) -> float:
    scale = 10**digits
    return math.floor(value * scale + 0.5) / scale


def device_windows(sent: Sent, since_ms: int = 0) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """(device, window start) -> the events counted in that window (late ones are not)."""
    windows: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for event in sent.events:
        if event["event_id"] in sent.late_ids:
            continue
        start = event["ts"] - event["ts"] % MINUTE
        if start >= since_ms:
            windows[(event["device_id"], start)].append(event)
    return windows


def _weighted_temperature(windows: list[list[dict[str, Any]]]) -> float:
    readings = [e["temperature"] for events in windows for e in events]
    return round_half_up(sum(readings) / len(readings))


def device_summary(
    sent: Sent, band_low: float, band_high: float, silent_windows: int, since_ms: int = 0
) -> list[dict[str, Any]]:
    windows = device_windows(sent, since_ms)
    newest = max(start for _, start in windows)
    by_device: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
    for (device, start), events in windows.items():
        by_device[device][start] = events
    rows = []
    for device in sorted(by_device):
        starts = sorted(by_device[device])
        events = [by_device[device][s] for s in starts]
        first = events[0][0]
        temperatures = [[e["temperature"] for e in w] for w in events]
        batteries = [e["battery"] for w in events for e in w if e["battery"] is not None]
        since_seen = (newest - starts[-1]) // MINUTE
        rows.append(
            {
                "device_id": device,
                "device_type": first["device_type"],
                "site": first["site"],
                "windows": len(starts),
                "events": sum(len(w) for w in events),
                "temperature_avg": _weighted_temperature(events),
                "temperature_min": min(min(t) for t in temperatures),
                "temperature_max": max(max(t) for t in temperatures),
                "battery_min": min(batteries) if batteries else None,
                "windows_outside_band": sum(
                    1 for t in temperatures if min(t) < band_low or max(t) > band_high
                ),
                "missing_windows": (starts[-1] - starts[0]) // MINUTE + 1 - len(starts),
                "last_window_start": utc(starts[-1]),
                "windows_since_seen": since_seen,
                "silent": since_seen >= silent_windows,
            }
        )
    return rows


def fleet_health(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_site: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in summary:
        by_site[row["site"]].append(row)
    return [
        {
            "site": site,
            "devices": len(rows),
            "silent_devices": sum(r["silent"] for r in rows),
            "events": sum(r["events"] for r in rows),
            "windows_outside_band": sum(r["windows_outside_band"] for r in rows),
            "battery_min": min(
                (r["battery_min"] for r in rows if r["battery_min"] is not None), default=None
            ),
        }
        for site, rows in sorted(by_site.items())
    ]


def site_timeseries(sent: Sent) -> list[dict[str, Any]]:
    cells: dict[tuple[int, str, str], list[list[dict[str, Any]]]] = defaultdict(list)
    for (_, start), events in device_windows(sent).items():
        cells[(start, events[0]["site"], events[0]["device_type"])].append(events)
    return [
        {
            "window_start": utc(start),
            "window_start_ms": start,
            "site": site,
            "device_type": device_type,
            "devices": len(windows),
            "events": sum(len(w) for w in windows),
            "temperature_avg": _weighted_temperature(windows),
        }
        for (start, site, device_type), windows in sorted(cells.items())
    ]


def site_activity(sent: Sent) -> list[dict[str, Any]]:
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in sent.events:
        cells[(event["site"], event["device_type"])].append(event)
    return [
        {
            "site": site,
            "device_type": device_type,
            "devices": len({e["device_id"] for e in events}),
            "events": len(events),
            "temperature_avg": round_half_up(sum(e["temperature"] for e in events) / len(events)),
        }
        for (site, device_type), events in sorted(cells.items())
    ]


def pipeline_health(sent: Sent, job: str, windows: int) -> list[dict[str, Any]]:
    rows = [
        {"output": "dead_letters", "reason": reason, "records": n}
        for reason, n in Counter(sent.dead_reasons).items()
    ]
    rows.append({"output": "events", "reason": "valid", "records": len(sent.events)})
    if sent.late_ids:
        rows.append({"output": "late_events", "reason": job, "records": len(sent.late_ids)})
    rows.append({"output": "window_results", "reason": job, "records": windows})
    return sorted(rows, key=lambda r: (r["output"], r["reason"]))


KNOWN_REASONS = (
    "duplicate key",
    "invalid JSON",
    "invalid UTF-8",
    "oversized payload",
    "schema violation",
    "unknown control record",
)


def _behind_watermark(sent: Sent) -> dict[str, int]:
    """Late event id -> how far its time was behind the shard's watermark when it arrived."""
    behind = {}
    for records in sent.records.values():
        newest = None
        for data in records:
            try:
                value = msgspec.json.decode(data)
            except msgspec.DecodeError:
                continue
            if not isinstance(value, dict) or "ts" not in value:
                continue
            if value["event_id"] in sent.late_ids:
                behind[value["event_id"]] = newest - LATENESS_MS - value["ts"]
            if -100 <= (value.get("temperature") or 0) <= 200:
                newest = value["ts"] if newest is None else max(newest, value["ts"])
    return behind


def rejects(sent: Sent, job: str) -> list[dict[str, Any]]:
    counts = Counter(sent.dead_reasons)
    rows = [
        {
            "output": "dead_letters",
            "reason": reason,
            "records": counts.get(reason, 0),
            "max_behind_watermark_ms": None,
        }
        for reason in KNOWN_REASONS
    ]
    if sent.late_ids:
        rows.append(
            {
                "output": "late_events",
                "reason": job,
                "records": len(sent.late_ids),
                "max_behind_watermark_ms": max(_behind_watermark(sent).values()),
            }
        )
    return rows


def unique_users(sent: Sent) -> list[dict[str, Any]]:
    seconds: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for click in sent.events:
        at_ms = round(click["recordTime"] * 1000)
        seconds[at_ms - at_ms % 1000].append(click)

    def users(clicks: list[dict[str, Any]], key: str | None = None, value: str = "") -> int:
        return len({c["cognitoId"] for c in clicks if key is None or c[key] == value})

    return [
        {
            "second": utc(start),
            "window_start_ms": start,
            "events": len(clicks),
            "unique_users": users(clicks),
            "android_users": users(clicks, "os", "Android"),
            "ios_users": users(clicks, "os", "iOS"),
            "windows_phone_users": users(clicks, "os", "Windows Phone"),
            "other_os_users": users(clicks, "os", "other"),
            "quadrant_a_users": users(clicks, "quadrant", "A"),
            "quadrant_b_users": users(clicks, "quadrant", "B"),
            "quadrant_c_users": users(clicks, "quadrant", "C"),
            "quadrant_d_users": users(clicks, "quadrant", "D"),
        }
        for start, clicks in sorted(seconds.items())
    ]


def assert_rows_equal(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Row by row, column by column; averages rounded to 2 decimals within one unit of the last
    decimal (the engines add floats in another order than Python: an exact x.xx5 can round
    either way)."""
    assert [list(r) for r in got] == [list(r) for r in expected]
    assert len(got) == len(expected)
    for n, (row, want) in enumerate(zip(got, expected, strict=True)):
        for column, value in want.items():
            actual = row[column]
            if isinstance(value, float) and column.endswith("_avg"):
                assert math.isclose(actual, value, abs_tol=0.0101), (n, column, actual, value)
            else:
                assert actual == value, (n, column, actual, value)
