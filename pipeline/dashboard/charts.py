"""The dashboard's charts: which report each draws and how its rows become series.

A chart is plain data (``kind``, labels, series of points or bar values), embedded in the page
as JSON and drawn by ``charts.js``. A report the lake cannot answer (the other event type's
tables) gives an unavailable chart with the reason, not an error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

Rows = list[dict[str, Any]]


def _lines(rows: Rows, series_of: Callable[[dict[str, Any]], Iterable[tuple[str, float]]]) -> list[dict[str, Any]]:
    """``[{name, points: [[x_ms, y], ...]}]`` from rows with ``window_start_ms``."""
    points: dict[str, dict[int, float]] = defaultdict(dict)
    for row in rows:
        for name, value in series_of(row):
            if value is not None:
                points[name][row["window_start_ms"]] = value
    return [
        {"name": name, "points": sorted([x, y] for x, y in by_x.items())}
        for name, by_x in sorted(points.items())
    ]


def _sum_by(rows: Rows, series: str, value: str) -> Rows:
    """Rows summed over everything but ``window_start_ms`` and ``series``."""
    totals: dict[tuple[int, str], float] = defaultdict(float)
    for row in rows:
        totals[(row["window_start_ms"], row[series])] += row[value] or 0
    return [{"window_start_ms": x, series: s, value: v} for (x, s), v in totals.items()]


def _weighted_by(rows: Rows, series: str, value: str, weight: str) -> Rows:
    """The ``weight``-weighted average of ``value`` per window and ``series``."""
    sums: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        if row[value] is not None and row[weight]:
            acc = sums[(row["window_start_ms"], row[series])]
            acc[0] += row[value] * row[weight]
            acc[1] += row[weight]
    return [
        {"window_start_ms": x, series: s, value: round(total / weight_sum, 2)}
        for (x, s), (total, weight_sum) in sums.items()
    ]


def events_by_site(rows: Rows) -> dict[str, Any]:
    summed = _sum_by(rows, "site", "events")
    return {"kind": "line", "series": _lines(summed, lambda r: [(r["site"], r["events"])])}


def temperature_by_device_type(rows: Rows) -> dict[str, Any]:
    averaged = _weighted_by(rows, "device_type", "temperature_avg", "events")
    series = _lines(averaged, lambda r: [(r["device_type"], r["temperature_avg"])])
    return {"kind": "line", "series": series}


def _columns(mapping: dict[str, str]) -> Callable[[Rows], dict[str, Any]]:
    def build(rows: Rows) -> dict[str, Any]:
        series = _lines(rows, lambda r: [(label, r[column]) for column, label in mapping.items()])
        return {"kind": "line", "series": series}

    return build


users_by_os = _columns(
    {
        "android_users": "Android",
        "ios_users": "iOS",
        "windows_phone_users": "Windows Phone",
        "other_os_users": "other",
    }
)
users_by_quadrant = _columns({f"quadrant_{q}_users": q.upper() for q in "abcd"})


def rejects_by_reason(rows: Rows) -> dict[str, Any]:
    short = {"dead_letters": "dead", "late_events": "late"}
    categories = [f"{short.get(r['output'], r['output'])}: {r['reason']}" for r in rows]
    return {
        "kind": "bar",
        "categories": categories,
        "series": [{"name": "records", "values": [r["records"] for r in rows]}],
    }


@dataclass(frozen=True)
class ChartSpec:
    title: str
    report: str
    x_label: str
    y_label: str
    build: Callable[[Rows], dict[str, Any]]

    def chart(self, table: pa.Table | None, unavailable: str = "") -> dict[str, Any]:
        """The chart's data; ``table`` is None when the report cannot run (``unavailable``)."""
        base = {"title": self.title, "report": self.report, "x_label": self.x_label}
        base["y_label"] = self.y_label
        if table is None:
            return {**base, "available": False, "has_data": False, "note": unavailable}
        drawn = self.build(table.to_pylist())
        has_data = any(s.get("points") or s.get("values") for s in drawn["series"])
        return {**base, **drawn, "available": True, "has_data": has_data, "note": ""}


CHARTS = (
    ChartSpec(
        "Events per minute by site", "site_timeseries", "time (UTC)", "events", events_by_site
    ),
    ChartSpec(
        "Average temperature by device type",
        "site_timeseries",
        "time (UTC)",
        "°C",
        temperature_by_device_type,
    ),
    ChartSpec("Unique users per second by OS", "unique_users", "time (UTC)", "users", users_by_os),
    ChartSpec(
        "Unique users per second by quadrant",
        "unique_users",
        "time (UTC)",
        "users",
        users_by_quadrant,
    ),
    ChartSpec("Late events and dead letters", "rejects", "reason", "records", rejects_by_reason),
)
