"""The dashboard: one static file that needs no network, opened in a real headless Chromium."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import pytest
from click.testing import CliRunner
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.dashboard.charts import MAX_GROUPS, job_report, line_figure
from pipeline.dashboard.render import render_html, write_dashboard
from pipeline.lake.ddl import relation_columns
from pipeline.lake.tables import lake_tables
from pipeline.reports.lint import lint
from tests.reports import browser
from tests.reports.lake_run import START_MS, TELEMETRY_EXAMPLE, Lake

HOSTILE = "</script><img src=x onerror=alert(1)><a href='https://example.com'>link</a>"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def _page(tmp_path: Path) -> Path:
    """A page whose every text from the data is hostile."""
    figure = line_figure([(HOSTILE, [START_MS, START_MS + 1000], [1, 2])], HOSTILE)
    chart = {"title": HOSTILE, "report": "r", "available": True, "has_data": True}
    data = {
        "charts": [{**chart, "note": "", "caption": HOSTILE, "figure": figure}],
        "summary": [{"output": "events", "reason": HOSTILE, "records": 3}],
        "tables": {"fleet_health": HOSTILE},
    }
    page = render_html(data, f"dash {HOSTILE}", datetime(2026, 1, 1, tzinfo=UTC))
    return write_dashboard(tmp_path / "hostile", page)


def test_the_page_fetches_nothing_and_never_parses_data_as_markup(tmp_path):
    page = _page(tmp_path).read_text(encoding="utf-8")
    library = get_plotlyjs()
    assert page.count(library) == 1  # plotly.js inlined once, as shipped by the plotly package
    own = page.replace(library, "")
    assert HOSTILE not in own and "<img" not in own and "<a " not in own
    assert re.findall(r"<[a-z]+[^>]*\s(?:src|href)\s*=", own) == []  # no fetching element
    assert re.findall(r"https?://", own.replace("https://example.com", "")) == []
    assert "default-src 'none'" in page  # the browser itself refuses any fetch


def test_every_jobs_chart_query_is_portable_to_athena_and_duckdb():
    """The generated per-job query passes the report lint, for the shipped jobs and for jobs
    declared only in the example configurations (one with no group_by: web_second)."""
    checked = []
    for path in (None, EXAMPLES / "site-hourly.toml", TELEMETRY_EXAMPLE):
        base = load_config(path, env={})
        for etype in base.types:
            config = load_config(path, env={"PIPELINE_STREAM_EVENT_TYPE": etype})
            relations = relation_columns(lake_tables(config))
            for job in config.stream_jobs:
                assert lint(job_report(job).sql, relations) == [], job.name
                checked.append(job.name)
    assert {"device_minute", "web_second", "site_hourly", "site_5m"} <= set(checked)


@pytest.mark.slow
def test_data_shows_as_written_in_the_browser_never_as_markup(tmp_path):
    browser.chromium()
    page = _page(tmp_path)
    found = browser.probe(page, tmp_path / "profile")
    assert found["violations"] == []
    (chart,) = found["charts"].values()
    assert chart["tooltip"] == ["2026-01-01 00:00:00", "1"]  # one line: its value alone
    dom = browser.dump_dom(page, tmp_path / "profile").replace(get_plotlyjs(), "")
    assert "<img" not in dom and "<a " not in dom  # no element made from the data
    shown = html.escape(HOSTILE, quote=False)  # as text: the characters themselves
    assert re.search(f"<text [^>]*>{re.escape(shown)}</text>", dom)  # the legend, in the SVG
    assert f'<figcaption>{shown}</figcaption><p class="caption">{shown}</p>' in dom


def _dashboard(emulator, tmp_path, lake: Lake, *config: str) -> tuple[Path, str]:
    event_type = lake.config.stream.event_type
    out = tmp_path / event_type
    args = [*config, "--endpoint-url", emulator.endpoint_url, "dashboard", "--out", str(out)]
    result = CliRunner().invoke(main, args, env=lake.env())
    assert result.exit_code == 0, result.output
    return out / "index.html", result.stdout


def _drawn(found: dict) -> dict[str, dict]:
    """The charts drawn, with no label clipped or overlapping and a tooltip on hover."""
    assert found["violations"] == []  # nothing was refused: nothing tried to load
    drawn = {title: c for title, c in found["charts"].items() if isinstance(c, dict)}
    for title, chart in drawn.items():
        width, height = chart["area"]
        assert width > 400 and height > 100, (title, chart)
        assert chart["labels"] > 4 and chart["clipped"] == 0 and chart["overlaps"] == 0, title
        assert chart["tooltip"], (title, chart)
    return drawn


def _visible(pixels: np.ndarray) -> int:
    """Pixels in the charts' colors: lines and bars were painted, not only laid out."""
    colors = [bytes.fromhex(c[1:]) for c in qualitative.Plotly]
    return sum(int((pixels[:, :, :3] == tuple(c)).all(axis=2).sum()) for c in colors)


@pytest.mark.slow
@pytest.mark.emulator
def test_the_dashboard_draws_the_reports_and_the_jobs(emulator, iot_lake, web_lake, tmp_path):
    browser.chromium()
    page, stdout = _dashboard(emulator, tmp_path, iot_lake)
    assert stdout == f"{page} (4 of 6 charts with data)\n"
    found = browser.probe(page, tmp_path / "profile")
    drawn = _drawn(found)
    assert set(drawn) == {
        "Events per minute by site",
        "Average temperature by device type",
        "Late events and dead letters",
        "Job device_minute: metrics per 1m window",
    }
    assert drawn["Events per minute by site"]["traces"] == 1  # one site
    first_minute = [
        e
        for e in iot_lake.sent.events
        if e["ts"] < START_MS + 60_000 and e["event_id"] not in iot_lake.sent.late_ids
    ]
    assert drawn["Events per minute by site"]["tooltip"] == [
        "2026-01-01 00:00:00",
        str(len(first_minute)),
    ]
    assert drawn["Average temperature by device type"]["traces"] == 3
    assert drawn["Late events and dead letters"]["traces"] == 2  # late events, dead letters
    assert drawn["Late events and dead letters"]["tooltip"] == ["late: device_minute", "4 records"]
    job = drawn["Job device_minute: metrics per 1m window"]
    assert job["traces"] == 8  # a line per device
    metrics = [m.name for m in iot_lake.config.stream_jobs[0].metrics]
    assert job["menu"] == metrics
    assert metrics[-1] == "battery_min"  # some device types have no battery: no line
    with_battery = {e["device_id"] for e in iot_lake.sent.events if e["battery"] is not None}
    assert job["picked"] == {"y_title": "battery_min", "traces": len(with_battery)}
    assert found["charts"]["Unique users per second by OS"] == (
        "not in this lake: needs v_window_web_second"
    )
    assert _visible(browser.screenshot(page, tmp_path / "profile", 1400, 2200)) > 1000

    page, stdout = _dashboard(emulator, tmp_path, web_lake)
    assert stdout == f"{page} (4 of 6 charts with data)\n"
    drawn = _drawn(browser.probe(page, tmp_path / "profile"))
    assert {title: c["traces"] for title, c in drawn.items()} == {
        "Unique users per second by OS": 4,
        "Unique users per second by quadrant": 4,
        "Late events and dead letters": 1,  # dead letters (none late: no bar, no trace)
        "Job web_second: metrics per 1s window": 1,  # no group_by: one line
    }
    metrics = [m.name for m in web_lake.config.stream_jobs[0].metrics]
    assert drawn["Job web_second: metrics per 1s window"]["menu"] == metrics


@pytest.mark.slow
@pytest.mark.emulator
def test_a_job_declared_only_in_configuration_gets_its_chart(emulator, telemetry_lake, tmp_path):
    """examples/telemetry.toml's site_5m job over its own event type: a line per site and
    device type (the busiest ten), each metric in the menu."""
    browser.chromium()
    config = ["--config", str(TELEMETRY_EXAMPLE)]
    page, stdout = _dashboard(emulator, tmp_path, telemetry_lake, *config)
    assert stdout == f"{page} (2 of 6 charts with data)\n"
    found = browser.probe(page, tmp_path / "profile")
    drawn = _drawn(found)
    assert set(drawn) == {"Late events and dead letters", "Job site_5m: metrics per 5m window"}
    events = [msgspec.json.decode(r) for rs in telemetry_lake.sent.records.values() for r in rs]
    groups = {(e.get("site"), e["device_type"]) for e in events}
    assert len(groups) > MAX_GROUPS
    job = drawn["Job site_5m: metrics per 5m window"]
    assert job["traces"] == MAX_GROUPS
    assert job["menu"] == ["readings", "devices", "battery_min", "temperature_max", "hot_readings"]
    assert job["picked"] == {"y_title": "hot_readings", "traces": MAX_GROUPS}
    assert re.fullmatch(r"2026-01-01 00:\d\d:00", job["tooltip"][0]), job["tooltip"]
    dom = browser.dump_dom(page, tmp_path / "profile")
    assert (
        f'<p class="caption">a line per site / device_type ({MAX_GROUPS} of {len(groups)} '
        "groups, those with the most windows); pick the metric in the menu</p>"
    ) in dom
    assert _visible(browser.screenshot(page, tmp_path / "profile", 1400, 1400)) > 1000
