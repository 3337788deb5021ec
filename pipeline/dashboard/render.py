"""The dashboard: one static HTML file with the reports' charts, viewable offline.

The page embeds its data (JSON) and its drawing code (``charts.js``, plain SVG, no library) and
forbids itself any network access (``Content-Security-Policy: default-src 'none'``): it opens
from a file, a bucket or an e-mail attachment the same way, with nothing fetched at view time.
Text from the data is escaped (HTML) or set as text (``textContent``), never parsed as markup.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.dashboard.charts import CHARTS
from pipeline.lake.ddl import relation_columns
from pipeline.lake.tables import LakeTable
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
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { border: 1px solid #ddd; border-radius: 6px; padding: 8px; margin: 0; width: 620px; }
.chart figcaption { font-weight: 600; margin-bottom: 4px; }
.note { color: #888; font-style: italic; }
.grid { stroke: #eee; } .tick, .axis-label { font-size: 11px; fill: #555; }
.series { fill: none; stroke-width: 2; }
.legend span { display: inline-block; border-left: 12px solid; padding: 0 10px 0 4px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
pre { font-size: 12px; }
"""


def _json_for_script(data: Any) -> str:
    """JSON safe inside <script>: no "</script>", no HTML-significant characters."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def collect(
    engine: Engine, tables: dict[str, LakeTable], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Run the reports the dashboard shows (each once) and build its data."""
    relations = set(relation_columns(tables))
    results: dict[str, pa.Table | None] = {}
    notes: dict[str, str] = {}
    for name in {c.report for c in CHARTS} | {SUMMARY_REPORT, *TABLE_REPORTS}:
        spec = find_report(name)
        missing = spec.missing(relations)
        if missing:
            results[name] = None
            notes[name] = f"not in this lake: needs {', '.join(missing)}"
        else:
            results[name] = run_report(engine, spec, tables, values)
    summary = results[SUMMARY_REPORT]
    return {
        "charts": [c.chart(results[c.report], notes.get(c.report, "")) for c in CHARTS],
        "summary": summary.to_pylist() if summary is not None else [],
        "tables": {
            name: format_table(results[name]) if results[name] is not None else notes[name]
            for name in TABLE_REPORTS
        },
    }


def render_html(data: Mapping[str, Any], title: str, generated_at: datetime) -> str:
    script = resources.files("pipeline.dashboard").joinpath("charts.js").read_text("utf-8")
    stats = "".join(
        f'<div class="stat">{html.escape(str(r["output"]).replace("_", " "))} '
        f"<small>{html.escape(str(r['reason']))}</small><b>{int(r['records']):,}</b></div>"
        for r in data["summary"]
    )
    figures = "".join(
        f'<figure class="chart" data-chart="{i}"><figcaption>{html.escape(c["title"])}'
        "</figcaption>"
        + (
            ""
            if c["has_data"]
            else f'<p class="note">{html.escape(c["note"] or "no data in this time range")}</p>'
        )
        + "</figure>"
        for i, c in enumerate(data["charts"])
    )
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
        "reports (sql/reports).</p>"
        f'<section class="stats">{stats}</section>'
        f'<h2>Charts</h2><section class="charts">{figures}</section>{tables}'
        f'<script type="application/json" id="dashboard-data">{_json_for_script(data)}</script>'
        f"<script>{script}</script></body></html>\n"
    )


def write_dashboard(out: Path, page: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
