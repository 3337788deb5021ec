"""One SQL, two engines: each known difference between Trino (Athena) and DuckDB, shown on DuckDB
and handled (by the transpilation) or rejected (by the lint); every shipped report transpiles.

Trino's answers are taken from its documentation (integer division truncates; date_diff counts
whole units; Athena's session zone is UTC; decimal division keeps the operands' scale); the
emulator's Athena is a stub, so they are stated, not measured.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from pyarrow import fs

from pipeline.config import load_config
from pipeline.core.errors import PipelineError
from pipeline.lake.ddl import relation_columns
from pipeline.lake.tables import lake_tables
from pipeline.reports.catalog import reports
from pipeline.reports.duck import LakeSession
from pipeline.reports.lint import lint
from pipeline.reports.params import bind
from pipeline.reports.portable import to_athena, to_duckdb, with_pruned_views


def _tables(event_type: str) -> dict:
    return lake_tables(load_config(env={"PIPELINE_STREAM_EVENT_TYPE": event_type}))


RELATIONS = relation_columns(_tables("iot")) | relation_columns(_tables("web"))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """DuckDB over an empty local lake of the default (IoT) configuration."""
    root = tmp_path_factory.mktemp("lake")
    with LakeSession(_tables("iot"), fs.LocalFileSystem(), str(root)) as lake:
        yield lake


def _plain_duckdb(sql: str, time_zone: str = "UTC") -> list:
    """What sqlglot's transpilation alone would give, in a DuckDB session in ``time_zone``."""
    connection = duckdb.connect()
    connection.execute(f"SET TimeZone = '{time_zone}'")
    return connection.sql(sqlglot.transpile(sql, read="athena", write="duckdb")[0]).fetchall()


def _one(session, sql: str) -> tuple:
    return tuple(session.query(sql).to_pylist()[0].values())


@pytest.mark.parametrize("name", sorted(reports()))
def test_each_report_transpiles_and_runs_on_duckdb(name, tmp_path):
    spec = reports()[name]
    assert lint(spec.sql, RELATIONS) == []
    duck = to_duckdb(spec.sql, RELATIONS)
    assert ":" + "since_ms" not in duck and "$since_ms" in duck  # bound by DuckDB, by name
    event_type = "web" if "web" in " ".join(spec.relations) else "iot"
    tables = _tables(event_type)
    with LakeSession(tables, fs.LocalFileSystem(), str(tmp_path)) as lake:
        for given in ({}, {"since_ms": 1_767_225_600_000}):  # plain, and partition-pruned views
            values = bind(given)
            query = with_pruned_views(spec.sql, tables) if given else spec.sql
            result = lake.query(query, values)
            assert result.num_rows == (
                6 if name == "rejects" else 1 if name == "pipeline_health" else 0
            )
        athena_sql, literals = to_athena(with_pruned_views(spec.sql, tables), values)
    assert not re.search(r":[a-z_]", athena_sql)  # every parameter is a ?
    assert athena_sql.count("?") == len(literals)


def test_integer_division_truncates_as_on_trino(session):
    sql = "SELECT 7 / 2 AS a, -7 / 2 AS b, 1767225601999 / 1000 AS s ORDER BY a"
    assert _plain_duckdb(sql) == [(3.5, -3.5, 1767225601.999)]  # the difference
    assert _one(session, sql) == (3, -3, 1767225601)  # Trino: truncation toward zero


def test_integer_division_of_lake_columns_is_typed_from_the_schema(session):
    sql = "SELECT sum(events) / count(*) AS per_window FROM v_window_device_minute ORDER BY 1"
    assert "TRUNC" in to_duckdb(sql, RELATIONS)


def test_date_diff_counts_whole_units_as_on_trino(session):
    sql = (
        "SELECT date_diff('hour', TIMESTAMP '2026-01-01 10:59:00', "
        "TIMESTAMP '2026-01-01 11:01:00') AS h ORDER BY h"
    )
    assert _plain_duckdb(sql) == [(1,)]  # DuckDB's date_diff counts hour boundaries crossed
    assert _one(session, sql) == (0,)  # Trino: no whole hour elapsed


def test_times_are_utc_whatever_the_machine_zone(session):
    sql = (
        "SELECT CAST(from_unixtime(1767225599) AS date) AS d, "
        "hour(from_unixtime(1767225599)) AS h ORDER BY d"
    )
    assert _plain_duckdb(sql, "Asia/Tokyo") == [(dt.date(2026, 1, 1), 8)]
    assert _one(session, sql) == (dt.date(2025, 12, 31), 23)  # Athena's session zone is UTC


def test_decimal_division_is_rejected(session):
    sql = "SELECT 1 / 3.0 AS third ORDER BY third"
    assert _plain_duckdb(sql)[0][0] != 0.3  # Trino: decimal(?,1) arithmetic gives 0.3
    assert [f.rule for f in lint(sql, RELATIONS)] == ["division"]
    assert lint("SELECT 1 / 3e0 AS third ORDER BY third", RELATIONS) == []


def test_functions_that_answer_differently_are_rejected():
    with pytest.raises(duckdb.Error):  # Joda patterns: no such function on DuckDB
        _plain_duckdb("SELECT format_datetime(TIMESTAMP '2026-01-01 00:00:00', 'yyyy') AS y")
    with pytest.raises(duckdb.Error):  # Trino's regexes have look-ahead; RE2 has none
        _plain_duckdb("SELECT regexp_like('ab', 'a(?=b)') AS m")
    assert _plain_duckdb("SELECT CAST(1e20 AS varchar) AS t")[0][0] != "1.0E20"  # Trino's text
    windows = "FROM v_window_device_minute"
    cases = {
        "SELECT format_datetime(from_unixtime(0), 'yyyy') AS y ORDER BY y": "unknown-function",
        f"SELECT approx_distinct(device_id) AS n {windows} ORDER BY n": "approximate",
        f"SELECT regexp_like(site, 'a(?=b)') AS m {windows} ORDER BY m": "regex",
        f"SELECT CAST(temperature_avg AS varchar) AS t {windows} ORDER BY t": "float-text",
        "SELECT from_unixtime(0) AT TIME ZONE 'Europe/Paris' AS t ORDER BY t": "time-zone",
        "SELECT current_date AS d ORDER BY d": "time-zone",
        "SELECT date_diff('month', DATE '2026-01-31', DATE '2026-02-28') AS m ORDER BY m": (
            "date-unit"
        ),
        f"SELECT arbitrary(site) AS s {windows} ORDER BY s": "nondeterministic",
    }
    for sql, rule in cases.items():
        assert [f.rule for f in lint(sql, RELATIONS)] == [rule], sql


def test_a_ranged_report_reads_only_the_partitions_that_can_hold_it(tmp_path):
    """Objects of arrival hours before the range (less the margin) are never opened: one that
    is not even Parquet does not disturb a ranged report, and breaks a report of everything."""
    tables = _tables("iot")
    late = tables["late"]
    base = tmp_path / late.location
    row = {"record_id": "r", "job": "device_minute", "event_id": "e", "watermark_ms": 0}
    since = 1_767_261_900_000  # 2026-01-01T10:05:00Z: read from arrival hour 09 on
    # hour 09 holds an event from 10:06: its producer's clock ran ahead, within the margin
    for hour, event_time in (("08", since - 7_200_000), ("09", since + 60_000), ("10", since)):
        folder = base / "dt=2026-01-01" / f"hour={hour}"
        folder.mkdir(parents=True)
        if hour == "08":
            (folder / "garbage.parquet").write_bytes(b"not parquet")
            continue
        rows = [row | {"record_id": f"r{hour}", "event_time_ms": event_time}]
        pq.write_table(pa.Table.from_pylist(rows, schema=late.schema), folder / "a.parquet")
    spec = reports()["rejects"]
    with LakeSession(tables, fs.LocalFileSystem(), str(tmp_path)) as lake:
        values = bind({"since_ms": since})
        assert (values["since_dt"], values["since_hour"]) == ("2026-01-01", "09")
        result = lake.query(with_pruned_views(spec.sql, tables), values).to_pylist()
        assert [r["records"] for r in result if r["output"] == "late_events"] == [2]
        with pytest.raises(PipelineError, match=r"garbage\.parquet"):
            lake.query(spec.sql, values)


def _windows_lake(root, rows: list[dict]) -> None:
    table = _tables("iot")["result:device_minute"]
    folder = root / table.location.strip("/") / "dt=2026-01-01" / "hour=00"
    folder.mkdir(parents=True)
    columns = {f.name: [row.get(f.name) for row in rows] for f in table.schema}
    pq.write_table(pa.table(columns, schema=table.schema), folder / "part.parquet")


@pytest.mark.parametrize("name", ["site_timeseries", "device_summary"])
def test_averages_do_not_depend_on_float_noise_or_row_order(name, tmp_path):
    """Two engines (or two batch splits) can sum the same readings in another order: a window's
    temperature_avg may then differ in its last bit, and DuckDB sums rows in any order. A mean
    that is exactly 27.555 must round the same way whatever the noise and the row order."""
    minute = 60_000
    # (device, window, avg of 2 events): window 0 of both devices and both windows of
    # meter-0 each have a mean of exactly 27.555, which rounds to 27.56
    windows = [("meter-0", 0, 27.55), ("meter-1", 0, 27.56), ("meter-0", 1, 27.56)]
    lakes = []
    for nudge, order in ((-np.inf, 1), (np.inf, -1)):
        rows = [
            {
                "result_id": f"{device}/{window}",
                "job": "device_minute",
                "window_start_ms": 1_767_225_600_000 + window * minute,
                "window_end_ms": 1_767_225_600_000 + (window + 1) * minute,
                "device_id": device,
                "device_type": "meter",
                "site": "site-01",
                "events": 2,
                "temperature_avg": float(np.nextafter(value, nudge)),
                "shards": "shardId-000000000000",
                "version": 1,
            }
            for device, window, value in windows
        ][::order]
        root = tmp_path / str(order)
        _windows_lake(root, rows)
        with LakeSession(_tables("iot"), fs.LocalFileSystem(), str(root)) as lake:
            lakes.append(lake.query(reports()[name].sql, bind({})).to_pylist())
    assert lakes[0] == lakes[1]
    assert [row["temperature_avg"] for row in lakes[0]] == [27.56, 27.56]
