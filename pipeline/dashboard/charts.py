"""The dashboard's charts: which report each draws and how its rows become a Plotly figure.

Two kinds: the shipped reports' charts (:data:`CHARTS`), and one per configured window job of
the stream's event type (:func:`job_chart`), shipped or declared only in configuration: each of
the job's numeric metrics per window over time, a line per group (the :data:`MAX_GROUPS` groups
with the most windows), a menu to pick the metric. A report the lake cannot answer (the other
event type's tables) gives an unavailable chart with the reason, not an error.

Figures are built with Plotly's graph objects (a misspelt property fails here, not silently in
the browser) and embedded in the page as JSON for plotly.js. Plotly reads a few HTML tags in
text (``<b>``, ``<a href>``), so every text that comes from the data is escaped first: a group
value is shown as written, never parsed as markup.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlglot import exp

from pipeline.core.times import format_duration
from pipeline.core.windows.spec import WindowJob
from pipeline.reports.catalog import Report

Rows = list[dict[str, Any]]
Figure = dict[str, Any]
#: A line: its name, then the window starts (epoch ms) and the values
Series = tuple[str, list[int], list[Any]]
#: A job's chart draws the groups with the most windows (one color each)
MAX_GROUPS = 10


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _text(value: Any) -> str:
    """Data as Plotly text: shown literally (``<`` and ``&`` escaped), None as "(none)"."""
    return html.escape(_shown(value), quote=False)


def _time(ms: int) -> str:
    """A window start as Plotly reads a date: UTC, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _lines(
    rows: Rows, series_of: Callable[[dict[str, Any]], Iterable[tuple[str, Any]]]
) -> list[Series]:
    """Series by name from rows with ``window_start_ms``, each in time order."""
    points: dict[str, dict[int, Any]] = defaultdict(dict)
    for row in rows:
        for name, value in series_of(row):
            if value is not None:
                points[name][row["window_start_ms"]] = value
    return [
        (name, sorted(by_x), [by_x[x] for x in sorted(by_x)])
        for name, by_x in sorted(points.items())
    ]


def _figure(traces: list[Any], layout: dict[str, Any]) -> Figure:
    """A validated figure as plain JSON-ready data."""
    import plotly.graph_objects as go  # the dashboard's only user: not loaded by the CLI's start

    base = {
        "template": "plotly_white",
        "margin": {"l": 10, "r": 10, "t": 36, "b": 10},
        # under everything, the margin grown to fit it: never over an axis title
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"},
        "hoverlabel": {"namelength": -1},  # whole names in tooltips
    }
    figure: Figure = go.Figure(data=traces, layout={**base, **layout}).to_plotly_json()
    return figure


def line_figure(
    series: list[Series],
    y_title: str,
    visible: list[bool] | None = None,
    colors: list[str] | None = None,
    layout: dict[str, Any] | None = None,
) -> Figure:
    """Lines over time; one tooltip per window lists every line's value there."""
    import plotly.graph_objects as go

    traces = [
        go.Scatter(
            x=[_time(x) for x in xs],
            y=ys,
            name=_text(name),
            legendgroup=_text(name),
            mode="lines+markers",
            marker={"size": 4},
            line={"color": colors[i]} if colors else None,
            visible=True if visible is None else visible[i],
        )
        for i, (name, xs, ys) in enumerate(series)
    ]
    axes = {
        "xaxis": {
            "title": {"text": "window start (UTC)"},
            "automargin": True,
            "hoverformat": "%Y-%m-%d %H:%M:%S",
        },
        "yaxis": {"title": {"text": _text(y_title)}, "automargin": True, "rangemode": "tozero"},
    }
    return _figure(traces, {"height": 360, "hovermode": "x unified", **axes, **(layout or {})})


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


def events_by_site(rows: Rows) -> Figure:
    summed = _sum_by(rows, "site", "events")
    return line_figure(_lines(summed, lambda r: [(r["site"], r["events"])]), "events")


def temperature_by_device_type(rows: Rows) -> Figure:
    averaged = _weighted_by(rows, "device_type", "temperature_avg", "events")
    series = _lines(averaged, lambda r: [(r["device_type"], r["temperature_avg"])])
    return line_figure(series, "°C")


def _columns(mapping: dict[str, str], y_title: str) -> Callable[[Rows], Figure]:
    def build(rows: Rows) -> Figure:
        series = _lines(rows, lambda r: [(label, r[column]) for column, label in mapping.items()])
        return line_figure(series, y_title)

    return build


users_by_os = _columns(
    {
        "android_users": "Android",
        "ios_users": "iOS",
        "windows_phone_users": "Windows Phone",
        "other_os_users": "other",
    },
    "users",
)
users_by_quadrant = _columns({f"quadrant_{q}_users": q.upper() for q in "abcd"}, "users")


def rejects_by_reason(rows: Rows) -> Figure:
    """Horizontal bars, a color per output: long reasons stay readable, never clipped."""
    import plotly.graph_objects as go

    outputs = {"late_events": "late events (by job)", "dead_letters": "dead letters (by reason)"}
    traces = []
    for output, name in outputs.items():
        mine = [r for r in rows if r["output"] == output]
        traces.append(
            go.Bar(
                x=[r["records"] for r in mine],
                y=[_text(f"{output.split('_')[0]}: {r['reason']}") for r in mine],
                name=name,
                orientation="h",
                text=[r["records"] for r in mine],
                textposition="auto",
                hovertemplate="%{x} records<extra></extra>",  # the reason: on the axis
            )
        )
    return _figure(
        traces,
        {
            "height": 120 + 26 * len(rows),
            "hovermode": "y",  # anywhere along a reason's row, even at 0 records
            "xaxis": {"title": {"text": "records"}, "automargin": True, "rangemode": "tozero"},
            "yaxis": {"automargin": True, "autorange": "reversed"},
        },
    )


@dataclass(frozen=True)
class ChartSpec:
    """A chart: its title, the report whose rows it draws and how."""

    title: str
    report: str
    build: Callable[[Rows], Figure]
    #: A line under the title, from the rows (what the chart shows, what it leaves out)
    caption: Callable[[Rows], str] | None = None
    #: Said instead of a chart when there is nothing to draw
    empty: str = "no data in this time range"

    def chart(self, table: pa.Table | None, unavailable: str = "") -> dict[str, Any]:
        """The chart's data; ``table`` is None when the report cannot run (``unavailable``)."""
        base = {"title": self.title, "report": self.report, "note": unavailable, "caption": ""}
        if table is None:
            return {**base, "available": False, "has_data": False}
        rows = table.to_pylist()
        figure = self.build(rows)
        if not any(len(trace.get("x") or ()) for trace in figure["data"]):
            return {**base, "available": True, "has_data": False, "note": self.empty}
        caption = self.caption(rows) if self.caption else ""
        return {**base, "available": True, "has_data": True, "caption": caption, "figure": figure}


CHARTS = (
    ChartSpec("Events per minute by site", "site_timeseries", events_by_site),
    ChartSpec("Average temperature by device type", "site_timeseries", temperature_by_device_type),
    ChartSpec("Unique users per second by OS", "unique_users", users_by_os),
    ChartSpec("Unique users per second by quadrant", "unique_users", users_by_quadrant),
    ChartSpec("Late events and dead letters", "rejects", rejects_by_reason),
)


def _identifier(name: str) -> str:
    return exp.to_identifier(name).sql(dialect="athena")


def numeric_metrics(job: WindowJob) -> list[str]:
    """The job's metrics a line can draw (numbers; not text such as ``last(site)``)."""
    return [
        m.name
        for m in job.metrics
        if pa.types.is_integer(t := m.arrow_type(job.etype)) or pa.types.is_floating(t)
    ]


def job_report(job: WindowJob) -> Report:
    """The job's windows in the time range, for its :data:`MAX_GROUPS` groups with the most
    windows (``group_rank`` 1 first; ``group_count``: how many groups there are)."""
    view = f"v_window_{job.name}"
    groups = [_identifier(g) for g in job.group_by]
    columns = ["window_start_ms", *groups, *map(_identifier, numeric_metrics(job))]
    where = "window_start_ms >= :since_ms AND window_start_ms < :until_ms"
    description = f"{job.name}: its numeric metrics per window, the groups with the most windows"
    if not groups:
        sql = (
            f"SELECT 1 AS group_rank, 1 AS group_count, {', '.join(columns)}\n"
            f"FROM {view}\nWHERE {where}\nORDER BY window_start_ms"
        )
    else:
        sql = _busiest_groups(view, where, columns, groups)
    return Report(f"window_{job.name}", description, f"-- {description}\n{sql}")


def _busiest_groups(view: str, where: str, columns: list[str], groups: list[str]) -> str:
    """The rows of the :data:`MAX_GROUPS` groups with the most windows (a null is a value)."""
    keys = ", ".join(groups)
    same_group = " AND ".join(f"w.{g} IS NOT DISTINCT FROM g.{g}" for g in groups)
    return f"""WITH w AS (
  SELECT {", ".join(columns)} FROM {view} WHERE {where}
), g AS (
  SELECT {keys},
    row_number() OVER (ORDER BY count(*) DESC, {keys}) AS group_rank,
    count(*) OVER () AS group_count
  FROM w
  GROUP BY {keys}
)
SELECT g.group_rank, g.group_count, {", ".join(f"w.{c}" for c in columns)}
FROM w JOIN g ON {same_group}
WHERE g.group_rank <= {MAX_GROUPS}
ORDER BY g.group_rank, w.window_start_ms"""


def _group_label(job: WindowJob) -> Callable[[dict[str, Any]], str]:
    if not job.group_by:
        return lambda row: job.name
    return lambda row: " / ".join(_shown(row[g]) for g in job.group_by)


def _job_figure(job: WindowJob) -> Callable[[Rows], Figure]:
    """A line per group for each metric; the menu shows one metric's lines at a time."""
    from plotly.colors import qualitative

    metrics = numeric_metrics(job)
    label = _group_label(job)

    def build(rows: Rows) -> Figure:
        by_group: dict[str, Rows] = defaultdict(list)
        for row in rows:  # in rank order: the busiest group first, first color
            by_group[label(row)].append(row)
        series: list[Series] = []
        colors: list[str] = []
        trace_metric: list[str] = []
        for metric in metrics:
            for i, (group, mine) in enumerate(by_group.items()):
                kept = [r for r in mine if r[metric] is not None]
                series.append(
                    (group, [r["window_start_ms"] for r in kept], [r[metric] for r in kept])
                )
                colors.append(qualitative.Plotly[i % len(qualitative.Plotly)])
                trace_metric.append(metric)
        buttons = [
            {
                "label": _text(metric),
                "method": "update",
                "args": [
                    {"visible": [m == metric for m in trace_metric]},
                    {"yaxis.title.text": _text(metric)},
                ],
            }
            for metric in metrics
        ]
        menu = {"buttons": buttons, "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}
        first = metrics[0] if metrics else ""
        shown = [m == first for m in trace_metric]
        layout = {"updatemenus": [menu]} if len(metrics) > 1 else {}
        return line_figure(series, first, shown, colors, layout)

    return build


def _job_caption(job: WindowJob) -> Callable[[Rows], str]:
    skipped = [m.name for m in job.metrics if m.name not in numeric_metrics(job)]
    extra = f"; not drawn (not numbers): {', '.join(skipped)}" if skipped else ""
    menu = "; pick the metric in the menu" if len(job.metrics) - len(skipped) > 1 else ""

    def caption(rows: Rows) -> str:
        if not job.group_by:
            return f"all events (no group_by){menu}{extra}"
        total = rows[0]["group_count"]
        shown = len({r["group_rank"] for r in rows})
        which = f"{shown} of {total} groups, those with the most windows" if total > shown else ""
        groups = " / ".join(job.group_by)
        return f"a line per {groups}" + (f" ({which})" if which else "") + menu + extra

    return caption


def job_chart(job: WindowJob) -> tuple[ChartSpec, Report]:
    """The chart of a configured job's metrics over time, and the report it draws."""
    report = job_report(job)
    title = f"Job {job.name}: metrics per {format_duration(job.size_ms)} window"
    empty = "no data in this time range" if numeric_metrics(job) else "no numeric metric to draw"
    return ChartSpec(title, report.name, _job_figure(job), _job_caption(job), empty), report
