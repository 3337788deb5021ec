"""The dashboard: one static HTML file with the reports' charts, viewable offline.

The charts are drawn by plotly.js (tooltips, zoom, a legend that hides lines), inlined once in
the page from the ``plotly`` package, with each chart's figure embedded as JSON. The page
forbids itself any network access (``Content-Security-Policy: default-src 'none'``): it opens
from a file, a bucket or an e-mail attachment the same way, with nothing fetched at view time.
Text from the data is escaped (HTML; Plotly's text markup in :mod:`pipeline.dashboard.charts`)
or set as text, never parsed as markup.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.core.windows.spec import WindowJob
from pipeline.dashboard.charts import CHARTS, ChartSpec, job_chart
from pipeline.lake.ddl import relation_columns
from pipeline.lake.tables import LakeTable
from pipeline.reports.catalog import Report
from pipeline.reports.catalog import report as find_report
from pipeline.reports.output import format_table
from pipeline.reports.runner import Engine, run_report

SUMMARY_REPORT = "pipeline_health"
TABLE_REPORTS = ("fleet_health",)
_CSS = """
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 24px 0 8px; }
.meta { color: #666; margin: 0 0 16px; }
.stats { display: flex; flex-wrap: wrap; gap: 12px; }
.stat { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.stat b { display: block; font-size: 20px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.chart { border: 1px solid #ddd; border-radius: 6px; padding: 8px; margin: 0; width: 640px; }
.chart figcaption { font-weight: 600; margin-bottom: 4px; }
.caption { color: #555; font-size: 12px; margin: 0 0 4px; }
.note { color: #888; font-style: italic; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
pre { font-size: 12px; }
"""
#: Draws each chart's figure, then marks the page (``data-charts-rendered``: how many) for
#: whoever waits on it; the modebar's PNG download needs a data: URL, which the CSP refuses.
_DRAW = """
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"] };
  const drawn = [];
  document.querySelectorAll(".chart .plot").forEach((plot) => {
    const figure = data.charts[Number(plot.parentElement.dataset.chart)].figure;
    drawn.push(Plotly.newPlot(plot, figure.data, figure.layout, config));
  });
  Promise.all(drawn).then(() => {
    document.documentElement.dataset.chartsRendered = String(drawn.length);
  });
})();
"""


def _json_for_script(data: Any) -> str:
    """JSON safe inside <script>: no "</script>", no HTML-significant characters."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def plan(jobs: Sequence[WindowJob]) -> tuple[list[ChartSpec], dict[str, Report]]:
    """The charts (the shipped reports', then one per job) and every report the page runs."""
    charts = list(CHARTS)
    names = {c.report for c in CHARTS} | {SUMMARY_REPORT, *TABLE_REPORTS}
    reports = {name: find_report(name) for name in sorted(names)}
    for job in jobs:
        chart, report = job_chart(job)
        charts.append(chart)
        reports[report.name] = report
    return charts, reports


def collect(
    engine: Engine,
    tables: dict[str, LakeTable],
    values: Mapping[str, Any],
    jobs: Sequence[WindowJob],
) -> dict[str, Any]:
    """Run the reports the dashboard shows (each once) and build its data; ``jobs``: the
    configured window jobs of the lake's event type, a chart each."""
    relations = set(relation_columns(tables))
    charts, reports = plan(jobs)
    results: dict[str, pa.Table | None] = {}
    notes: dict[str, str] = {}
    for name, spec in reports.items():
        missing = spec.missing(relations)
        if missing:
            results[name] = None
            notes[name] = f"not in this lake: needs {', '.join(missing)}"
        else:
            results[name] = run_report(engine, spec, tables, values)
    summary = results[SUMMARY_REPORT]
    return {
        "charts": [c.chart(results[c.report], notes.get(c.report, "")) for c in charts],
        "summary": summary.to_pylist() if summary is not None else [],
        "tables": {
            name: format_table(table) if (table := results[name]) is not None else notes[name]
            for name in TABLE_REPORTS
        },
    }


def _figure_html(index: int, chart: Mapping[str, Any]) -> str:
    title = f"<figcaption>{html.escape(chart['title'])}</figcaption>"
    if not chart["has_data"]:
        note = chart["note"] or "no data in this time range"
        return f'<figure class="chart">{title}<p class="note">{html.escape(note)}</p></figure>'
    caption = f'<p class="caption">{html.escape(chart["caption"])}</p>' if chart["caption"] else ""
    plot = '<div class="plot"></div>'
    return f'<figure class="chart" data-chart="{index}">{title}{caption}{plot}</figure>'


def render_html(data: Mapping[str, Any], title: str, generated_at: datetime) -> str:
    from plotly.offline import get_plotlyjs  # the library's own copy of plotly.js, offline

    stats = "".join(
        f'<div class="stat">{html.escape(str(r["output"]).replace("_", " "))} '
        f"<small>{html.escape(str(r['reason']))}</small><b>{int(r['records']):,}</b></div>"
        for r in data["summary"]
    )
    figures = "".join(_figure_html(i, c) for i, c in enumerate(data["charts"]))
    tables = "".join(
        f"<h2>{html.escape(name.replace('_', ' '))}</h2><pre>{html.escape(text)}</pre>"
        for name, text in data["tables"].items()
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="meta">Generated {generated_at:%Y-%m-%d %H:%M:%S} UTC from the lake\'s '
        "reports (sql/reports) and window jobs.</p>"
        f'<section class="stats">{stats}</section>'
        f'<h2>Charts</h2><section class="charts">{figures}</section>{tables}'
        f'<script type="application/json" id="dashboard-data">{_json_for_script(data)}</script>'
        f"<script>{get_plotlyjs()}</script><script>{_DRAW}</script></body></html>\n"
    )


def write_dashboard(out: Path, page: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
