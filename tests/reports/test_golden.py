"""Golden tests: every shipped report on a fixed seeded run equals the value computed from the
ground truth by plain Python (tests/reports/truth.py), on DuckDB over the emulator's S3."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from pipeline.lake.ddl import relation_columns
from pipeline.lake.layout import data_files, table_base
from pipeline.reports.catalog import available
from tests.reports import truth
from tests.reports.lake_run import GAP_DEVICE, SILENT_DEVICE, START_MS, Lake

pytestmark = [pytest.mark.emulator]

BAND = {"band_low": 10.0, "band_high": 25.0}  # meters run warm, trackers cold: both outside


@pytest.fixture
def iot(iot_lake: Lake) -> Lake:
    return iot_lake


@pytest.fixture
def web(web_lake: Lake) -> Lake:
    return web_lake


def test_the_run_has_what_the_reports_must_find(iot):
    summary = {r["device_id"]: r for r in iot.run("device_summary", **BAND)}
    assert summary[SILENT_DEVICE]["silent"] is True
    assert summary[GAP_DEVICE]["missing_windows"] == 2
    assert sum(r["windows_outside_band"] for r in summary.values()) > 0
    assert len(iot.sent.late_ids) == 4 and len(iot.sent.dead_reasons) == 4


def test_device_summary(iot):
    assert_equal = truth.assert_rows_equal
    assert_equal(iot.run("device_summary", **BAND), truth.device_summary(iot.sent, 10.0, 25.0, 3))
    assert_equal(iot.run("device_summary"), truth.device_summary(iot.sent, -10.0, 40.0, 3))


def test_device_summary_for_a_time_range_a_site_and_a_device(iot):
    since = START_MS + 2 * truth.MINUTE
    expected = truth.device_summary(iot.sent, 10.0, 25.0, 3, since_ms=since)
    truth.assert_rows_equal(iot.run("device_summary", since_ms=since, **BAND), expected)
    one = [r for r in expected if r["device_id"] == GAP_DEVICE]
    got = iot.run("device_summary", since_ms=since, device=GAP_DEVICE, site="site-00", **BAND)
    # alone, the device is the fleet: its own newest window is the newest
    assert [r["windows"] for r in got] == [one[0]["windows"]]
    assert iot.run("device_summary", site="no such site") == []


def test_fleet_health(iot):
    summary = truth.device_summary(iot.sent, 10.0, 25.0, 3)
    truth.assert_rows_equal(iot.run("fleet_health", **BAND), truth.fleet_health(summary))


def test_site_timeseries(iot):
    truth.assert_rows_equal(iot.run("site_timeseries"), truth.site_timeseries(iot.sent))


def test_site_activity(iot):
    truth.assert_rows_equal(iot.run("site_activity"), truth.site_activity(iot.sent))


def test_pipeline_health(iot):
    windows = len(truth.device_windows(iot.sent))
    expected = truth.pipeline_health(iot.sent, "device_minute", windows)
    assert iot.run("pipeline_health") == expected


def test_rejects_by_reason(iot, web):
    assert iot.run("rejects") == truth.rejects(iot.sent, "device_minute")
    assert web.run("rejects") == truth.rejects(web.sent, "web_second")  # zeros, every reason


def test_unique_users_per_second_by_os_and_quadrant(web):
    truth.assert_rows_equal(web.run("unique_users"), truth.unique_users(web.sent))


def test_pipeline_lag_from_each_window_to_its_arrival_hour(iot):
    """Expected from the objects themselves: each result's final version and the dt/hour of the
    object holding it (read with pyarrow, not SQL)."""
    table = iot.tables["result:device_minute"]
    filesystem = iot.clients.arrow_s3_filesystem()
    best: dict[str, tuple[int, int, int]] = {}  # result id -> (version, window end, arrival)
    for info in data_files(filesystem, table_base(table, iot.config.names.bucket)):
        parts = dict(p.split("=") for p in info.path.split("/") if "=" in p)
        day = (
            truth.utc(0).replace(
                year=int(parts["dt"][:4]), month=int(parts["dt"][5:7]), day=int(parts["dt"][8:])
            )
            - truth.utc(0)
        ).days
        arrival = day * 86_400_000 + int(parts["hour"]) * 3_600_000
        for row in pq.read_table(info.path, filesystem=filesystem).to_pylist():
            seen = best.get(row["result_id"])
            if seen is None or row["version"] > seen[0]:
                best[row["result_id"]] = (row["version"], row["window_end_ms"], arrival)
    ends = [end for _, end, _ in best.values()]
    assert iot.run("pipeline_lag") == [
        {
            "job": "device_minute",
            "windows": len(best),
            "first_window_end": truth.utc(min(ends)),
            "last_window_end": truth.utc(max(ends)),
            "min_lag_s": min(max(a - end, 0) for _, end, a in best.values()) // 1000,
            "max_lag_s": max(a + 3_600_000 - end for _, end, a in best.values()) // 1000,
        }
    ]
    assert len(best) == len(truth.device_windows(iot.sent))


def test_every_report_runs_where_its_tables_exist_and_is_refused_elsewhere(iot, web):
    iot_reports = set(available(relation_columns(iot.tables)))
    web_reports = set(available(relation_columns(web.tables)))
    common = {"pipeline_health", "pipeline_lag", "rejects"}
    assert iot_reports == common | {
        "device_summary",
        "fleet_health",
        "site_activity",
        "site_timeseries",
    }
    assert web_reports == common | {"unique_users"}
    with pytest.raises(Exception, match="v_window_web_second"):
        iot.run("unique_users")
