"""Reports on a declared type: ``report --sql`` over ``events_<type>`` and ``window_<job>``;
the shipped reports on the shipped types say what they need."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.reports.lake_run import TELEMETRY_EXAMPLE as EXAMPLE
from tests.reports.lake_run import Lake

pytestmark = [pytest.mark.emulator]

BY_TYPE = """-- readings per device type, from the events and from the windows
SELECT e.device_type, e.events, w.readings
FROM (SELECT device_type, count(*) AS events FROM v_events_telemetry GROUP BY device_type) AS e
JOIN (SELECT device_type, sum(readings) AS readings FROM v_window_site_5m GROUP BY device_type) AS w
  ON e.device_type = w.device_type
ORDER BY e.device_type
"""


def invoke(lake: Lake, *args: str):
    base = ["--config", str(EXAMPLE), "--endpoint-url", lake.config.aws.endpoint_url, "report"]
    return CliRunner().invoke(main, [*base, *args], env=lake.env())


def test_report_sql_reads_the_declared_types_events_and_its_jobs_windows(telemetry_lake, tmp_path):
    query = tmp_path / "by_type.sql"
    query.write_text(BY_TYPE, encoding="utf-8")
    result = invoke(telemetry_lake, "--sql", str(query), "--format", "csv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["# by_type", "device_type,events,readings"]
    rows = [line.split(",") for line in lines[2:] if line]
    sent = sum(map(len, telemetry_lake.sent.records.values()))
    assert sum(int(events) for _, events, _ in rows) == sent > 500
    assert all(events == readings for _, events, readings in rows)  # every event in one window


def test_the_shipped_reports_on_shipped_types_say_what_they_need(telemetry_lake):
    result = invoke(telemetry_lake, "--list")
    assert result.exit_code == 0, result.output
    (device_summary,) = [line for line in result.stdout.splitlines() if "device_summary" in line]
    assert "(needs v_events_iot" in device_summary or "(needs v_window_device_minute" in (
        device_summary
    )
    result = invoke(telemetry_lake, "device_summary")
    assert result.exit_code == 1
    assert "device_summary reads v_window_device_minute, which this configuration" in result.output
