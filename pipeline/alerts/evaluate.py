"""Apply alert rules to window results: a pure function of the rows, so a replay gives the same
alerts with the same ids (which is what makes delivery once per rule, key and window possible).

* ``band``: a window whose metric satisfies a term (``battery_min < 10``); the alert's window is
  that window.
* ``silent``: a group with no result for ``N`` consecutive windows, either between two of its
  results or between its last result and the job's newest window (its progress); the alert's
  window is the ``N``-th missing one, so the alert raised while a device is silent and the gap
  seen after it came back are the same alert.
* ``drop``: a metric below ``(1 - percent/100)`` times its value in the group's previous window
  (adjacent windows only: a missing window is silence, not a drop).

Rows are window results as plain dicts (DynamoDB items or lake rows): ``job``,
``window_start_ms``, ``window_end_ms``, the job's group-by fields and metrics; copies of a
window count once (the highest ``version``, as in the lake's views).

With ``complete_before`` (:func:`pipeline.alerts.complete.complete_before`), rules see only
complete windows, whose every shard part is in: a window still missing a lagging shard's part
would look like a drop, and the newest window of the quickest shard would make the others' keys
look silent. ``silent`` then counts up to the newest complete window with a result.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.alerts.rules import AlertRule

Key = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Alert:
    rule: str
    job: str
    key: Key
    window_start_ms: int
    window_end_ms: int
    metric: str
    value: Any
    message: str

    @property
    def alert_id(self) -> str:
        """The same rule, job, group and window always have the same id."""
        group = ",".join(f"{k}={v}" for k, v in self.key) or "-"
        return f"{self.rule}|{self.job}|{group}|{self.window_start_ms}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "job": self.job,
            "key": dict(self.key),
            "window_start_ms": self.window_start_ms,
            "window_end_ms": self.window_end_ms,
            "metric": self.metric,
            "value": self.value,
            "message": self.message,
        }


def _key_text(key: Key) -> str:
    return ", ".join(f"{k}={v}" for k, v in key) or "all"


def _band(rule: AlertRule, key: Key, rows: Sequence[dict[str, Any]]) -> Iterable[Alert]:
    for row in rows:
        broken = [t for t in rule.terms if row.get(t.metric) is not None and t.holds(row[t.metric])]
        if broken:
            first = broken[0]
            values = "; ".join(f"{t.metric} = {row[t.metric]} ({t})" for t in broken)
            yield Alert(
                rule.name,
                rule.job,
                key,
                row["window_start_ms"],
                row["window_end_ms"],
                first.metric,
                row[first.metric],
                f"{rule.name}: {_key_text(key)}: {values}",
            )


def _silent(
    rule: AlertRule, key: Key, rows: Sequence[dict[str, Any]], newest_ms: int
) -> Iterable[Alert]:
    size = rows[0]["window_end_ms"] - rows[0]["window_start_ms"]
    starts = [r["window_start_ms"] for r in rows] + [newest_ms + size]
    for last, following in itertools.pairwise(starts):
        missing = (following - last) // size - 1
        if missing >= rule.windows:
            window = last + rule.windows * size
            yield Alert(
                rule.name,
                rule.job,
                key,
                window,
                window + size,
                "silent_windows",
                rule.windows,
                f"{rule.name}: {_key_text(key)}: no result for {rule.windows} windows "
                f"after the one starting at {last}",
            )


def _drop(rule: AlertRule, key: Key, rows: Sequence[dict[str, Any]]) -> Iterable[Alert]:
    factor = 1 - rule.percent / 100
    for before, row in itertools.pairwise(rows):
        previous, value = before.get(rule.metric), row.get(rule.metric)
        adjacent = before["window_end_ms"] == row["window_start_ms"]
        if adjacent and previous and value is not None and value < previous * factor:
            yield Alert(
                rule.name,
                rule.job,
                key,
                row["window_start_ms"],
                row["window_end_ms"],
                rule.metric,
                value,
                f"{rule.name}: {_key_text(key)}: {rule.metric} fell from {previous} to {value} "
                f"(more than {rule.percent:g}%)",
            )


def evaluate(
    rules: Sequence[AlertRule],
    rows: Iterable[dict[str, Any]],
    complete_before: int | None = None,
) -> list[Alert]:
    """Every alert the rows raise, ordered by rule, job, window and key (only complete windows'
    when ``complete_before`` is given)."""
    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_job[row["job"]].append(row)
    alerts: list[Alert] = []
    for rule in rules:
        job_rows = by_job.get(rule.job, [])
        if complete_before is not None:
            limit = complete_before - rule.lateness_ms
            job_rows = [r for r in job_rows if r["window_end_ms"] <= limit]
        if not job_rows:
            continue
        newest_ms = max(r["window_start_ms"] for r in job_rows)
        groups: dict[Key, dict[int, dict[str, Any]]] = defaultdict(dict)
        for row in job_rows:  # one row per window: of copies, the highest version
            windows = groups[tuple((g, row.get(g)) for g in rule.group_by)]
            seen = windows.get(row["window_start_ms"])
            if seen is None or row.get("version", 0) > seen.get("version", 0):
                windows[row["window_start_ms"]] = row
        for key, windows in groups.items():
            group = [windows[start] for start in sorted(windows)]
            if rule.kind == "band":
                alerts.extend(_band(rule, key, group))
            elif rule.kind == "silent":
                alerts.extend(_silent(rule, key, group, newest_ms))
            else:
                alerts.extend(_drop(rule, key, group))
    alerts.sort(key=lambda a: (a.rule, a.job, a.window_start_ms, str(a.key)))
    return alerts
