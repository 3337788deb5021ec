"""The dashboard: one static file that needs no network, opened in a real headless Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.dashboard.render import render_html
from tests.reports import browser
from tests.reports.lake_run import Lake

FIRST_SERIES = (0x1F, 0x77, 0xB4)  # charts.js's first color


def _chart(title: str, name: str) -> dict:
    return {
        "title": title,
        "report": "r",
        "x_label": "x",
        "y_label": "y",
        "kind": "line",
        "available": True,
        "has_data": True,
        "note": "",
        "series": [{"name": name, "points": [[0, 1], [1000, 2]]}],
    }


def test_the_page_fetches_nothing_and_never_parses_data_as_markup():
    hostile = "</script><img src=x onerror=alert(1)>"
    data = {
        "charts": [_chart("<b>t</b>", hostile)],
        "summary": [{"output": "events", "reason": hostile, "records": 3}],
        "tables": {"fleet_health": hostile},
    }
    page = render_html(data, "dash <i>", datetime(2026, 1, 1, tzinfo=UTC))
    assert hostile not in page and "<img" not in page and "<b>t</b>" not in page
    assert re.findall(r"<[a-z]+[^>]*\s(?:src|href)\s*=", page) == []  # no fetching element
    assert set(re.findall(r"https?://[^\s\"'<>)`]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in page  # the browser itself refuses any fetch


def _dashboard(emulator, tmp_path, lake: Lake) -> tuple[str, np.ndarray]:
    event_type = lake.config.stream.event_type
    out = tmp_path / event_type
    args = ["--endpoint-url", emulator.endpoint_url, "dashboard", "--out", str(out)]
    result = CliRunner().invoke(main, args, env=lake.env())
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out / 'index.html'} (3 of 5 charts with data)\n"
    page = out / "index.html"
    profile = tmp_path / f"{event_type}-profile"
    dom = browser.dump_dom(page, profile)
    return dom, browser.screenshot(page, profile, 1400, 1500)


def _rendered(dom: str) -> dict[str, tuple[int, int]]:
    """Chart title -> the size of its plot as laid out by the browser."""
    sizes = {}
    for match in re.finditer(
        r'<figure class="chart" data-chart="\d+" data-plot-box="(\d+)x(\d+)">'
        r"<figcaption>([^<]+)</figcaption>",
        dom,
    ):
        sizes[match.group(3)] = (int(match.group(1)), int(match.group(2)))
    return sizes


@pytest.mark.slow
@pytest.mark.emulator
def test_the_dashboard_draws_its_charts_in_a_real_browser(emulator, iot_lake, web_lake, tmp_path):
    browser.chromium()
    dom, pixels = _dashboard(emulator, tmp_path, iot_lake)
    assert 'data-charts-rendered="3"' in dom
    sizes = _rendered(dom)
    assert set(sizes) == {
        "Events per minute by site",
        "Average temperature by device type",
        "Late events and dead letters",
    }
    # laid out across the plot; a line's height is its values' spread (counts start at 0, so
    # a fleet's steady per-minute count draws a shallow line)
    assert all(w > 100 and h > 0 for w, h in sizes.values()), sizes
    assert sizes["Average temperature by device type"][1] > 100, sizes
    assert dom.count('class="series"') == 1 + 3  # one site; three device types
    assert dom.count('<p class="note">not in this lake: needs v_window_web_second') == 2
    assert (pixels[:, :, :3] == FIRST_SERIES).all(axis=2).sum() > 500  # visible, not blank

    dom, pixels = _dashboard(emulator, tmp_path, web_lake)
    assert set(_rendered(dom)) == {
        "Unique users per second by OS",
        "Unique users per second by quadrant",
        "Late events and dead letters",
    }
    assert dom.count('class="series"') == 4 + 4
    assert (pixels[:, :, :3] == FIRST_SERIES).all(axis=2).sum() > 500
