"""``pipeline report`` from the command line: listing, formats, parameters, errors, the lint."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.reports.catalog import reports
from tests.reports.lake_run import Lake

pytestmark = [pytest.mark.emulator]

NON_PORTABLE = """-- seconds between each device's first and last reading
SELECT device_id, (max(ts) - min(ts)) / 1000.0 AS seconds
FROM v_events_iot
GROUP BY device_id
"""
PORTABLE = """-- seconds between each device's first and last reading
SELECT device_id, (max(ts) - min(ts)) / 1000 AS seconds
FROM v_events_iot
GROUP BY device_id
ORDER BY device_id
"""


@pytest.fixture
def run(emulator, iot_lake: Lake):
    def invoke(*args: str):
        return CliRunner().invoke(
            main, ["--endpoint-url", emulator.endpoint_url, "report", *args], env=iot_lake.env()
        )

    invoke.sent = iot_lake.sent
    return invoke


def test_list_shows_one_line_per_report_and_what_it_needs(run):
    result = run("--list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted(reports())
    (web,) = [line for line in lines if line.startswith("unique_users")]
    assert web.endswith("(needs v_window_web_second)")


def test_formats_and_files(run, tmp_path):
    result = run("fleet_health", "--format", "csv", "--param", "band_high=25")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "# fleet_health",
        "site,devices,silent_devices,events,windows_outside_band,battery_min",
    ]
    result = run("device_summary", "fleet_health", "--format", "json", "--site", "site-00")
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["report"] for d in documents] == ["device_summary", "fleet_health"]
    assert documents[1]["rows"][0]["devices"] == len(documents[0]["rows"]) == 8
    result = run("site_timeseries", "--format", "parquet", "--out", str(tmp_path))
    assert result.exit_code == 0 and result.stdout == ""
    table = pq.read_table(tmp_path / "site_timeseries.parquet")
    assert table.column_names[:3] == ["window_start", "window_start_ms", "site"]
    later = run("site_timeseries", "--since", "2026-01-01T00:05:00Z", "--format", "json")
    starts = {r["window_start"] for r in json.loads(later.stdout)["rows"]}
    assert starts == {"2026-01-01 00:05:00.000"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "parquet"], "--format parquet writes files: give --out DIR or --to s3://..."),
        (["--param", "nope=1"], "unknown report parameter 'nope'"),
        (["--param", "band_low=cold"], "parameter band_low: expected float, got 'cold'"),
        (["--since", "yesterday"], "--since: 'yesterday' is not an instant such as 2026-01-01"),
        (["--since", "2026-01-02", "--until", "2026-01-01"], "the time range is empty"),
        (["unique_users"], "report unique_users reads v_window_web_second"),
        (["no_such_report"], "unknown report 'no_such_report'"),
    ],
)
def test_errors_are_one_line(run, args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and message in result.output


def test_the_lint_rejects_a_non_portable_report_and_runs_a_portable_one(run, tmp_path):
    assert run("--lint").exit_code == 0  # every shipped report
    bad, good = tmp_path / "bad.sql", tmp_path / "good.sql"
    bad.write_text(NON_PORTABLE)
    good.write_text(PORTABLE)
    result = run("--lint", "--sql", str(bad))
    assert result.exit_code == 1
    assert "bad: 2 problem(s)" in result.stdout
    assert "division: (MAX(ts) - MIN(ts)) / 1000.0: integer / decimal" in result.stdout
    assert "order: the result needs an ORDER BY" in result.stdout
    refused = run("--sql", str(bad))
    assert refused.exit_code == 1 and "bad: order:" in refused.output
    result = run("--sql", str(good), "--format", "json")
    assert result.exit_code == 0, result.output
    times: dict[str, list[int]] = {}
    for event in run.sent.events:
        times.setdefault(event["device_id"], []).append(event["ts"])
    expected = [  # integer division truncates, on DuckDB as on Athena
        {"device_id": d, "seconds": (max(t) - min(t)) // 1000} for d, t in sorted(times.items())
    ]
    assert json.loads(result.stdout)["rows"] == expected


@pytest.mark.parametrize(
    "hostile", ["site-00' OR '1'='1", "x'; DROP TABLE events_iot; --", 'site-00" OR 1=1 --']
)
def test_report_parameters_are_bound_never_pasted_into_sql(run, hostile):
    """Injection through a parameter finds nothing (the value is compared, not executed), and
    the lake is intact afterwards."""
    result = run("device_summary", "--site", hostile, "--format", "json")
    assert result.exit_code == 0, result.output
    (document,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert document["rows"] == []
    intact = run("device_summary", "--site", "site-00", "--format", "json")
    (again,) = [json.loads(line) for line in intact.stdout.splitlines()]
    assert again["rows"]
