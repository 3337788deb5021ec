"""Results equal an independent DuckDB computation over the producer's ground truth, for the IoT
and the web jobs, with duplicates, disorder, late and malformed records mixed.

The oracle reads only the truth file: it drops what the labels say the consumer must not count
(malformed records, late events), dedupes by event_id, and aggregates in SQL.
"""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

CHAOS = [
    "--duplicates",
    "0.04",
    "--out-of-order",
    "0.05",
    "--late",
    "0.02",
    "--malformed",
    "0.03",
    "--hot-keys",
    "0.02",
]

EVENTS = """
CREATE TABLE events AS
WITH sent AS (
  SELECT payload, labels FROM read_json('{truth}', format = 'newline_delimited',
                                        columns = {{payload: 'VARCHAR', labels: 'JSON'}})
  WHERE json_extract(labels, '$.control') IS NULL AND json_extract(labels, '$.malformed') IS NULL
    AND json_extract(labels, '$.late') IS NULL
)
SELECT DISTINCT ON (json_extract_string(payload, '$.event_id')) payload::JSON AS e FROM sent
"""

IOT = """
SELECT e->>'device_id' AS device_id, CAST(e->>'ts' AS BIGINT) // 60000 * 60000 AS window_start_ms,
       count(*) AS events, avg(CAST(e->>'temperature' AS DOUBLE)) AS temperature_avg,
       min(CAST(e->>'temperature' AS DOUBLE)) AS temperature_min,
       max(CAST(e->>'temperature' AS DOUBLE)) AS temperature_max,
       min(CAST(e->>'battery' AS DOUBLE)) AS battery_min
FROM events GROUP BY ALL
"""

WEB = """
SELECT round(CAST(e->>'recordTime' AS DOUBLE) * 1000)::BIGINT // 1000 * 1000 AS window_start_ms,
       count(*) AS events, count(DISTINCT e->>'cognitoId') AS unique_users,
       count(DISTINCT e->>'cognitoId') FILTER (WHERE e->>'os' = 'Android') AS android_users,
       count(DISTINCT e->>'cognitoId') FILTER (WHERE e->>'os' = 'iOS') AS ios_users,
       count(DISTINCT e->>'cognitoId') FILTER (WHERE e->>'os' = 'Windows Phone')
         AS windows_phone_users,
       count(DISTINCT e->>'cognitoId') FILTER (WHERE e->>'os' = 'other') AS other_os_users,
       count(DISTINCT e->>'cognitoId') FILTER (WHERE e->>'quadrant' = 'A') AS quadrant_a_users,
       count(DISTINCT e->>'cognitoId') FILTER (WHERE e->>'quadrant' = 'D') AS quadrant_d_users
FROM events GROUP BY ALL
"""


def demo(tmp_path, source: str, *extra: str):
    out = tmp_path / source
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "demo",
        "--out",
        str(out),
        "--source",
        source,
        "--seed",
        "31",
        *CHAOS,
        *extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    items = [
        json.loads(line)
        for line in next((out / "dynamodb").glob("*.jsonl")).read_text().splitlines()
    ]
    connection = duckdb.connect()
    connection.execute(EVENTS.format(truth=out / "truth" / "events.jsonl"))
    return out, items, connection


def expect_equal(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        for name, value in want.items():
            if isinstance(value, float):
                assert got[key][name] == pytest.approx(value, rel=1e-12), (key, name)
            else:
                assert got[key][name] == value, (key, name)


def test_iot_windows_equal_the_duckdb_oracle_over_the_truth(tmp_path):
    out, items, connection = demo(tmp_path, "iot", "--devices", "25", "--minutes", "8")
    rows = connection.execute(IOT).fetchall()
    columns = [d[0] for d in connection.description]
    expected = {(r[0], r[1]): dict(zip(columns[2:], r[2:], strict=True)) for r in rows}
    got = {(i["device_id"], i["window_start_ms"]): i for i in items if i["job"] == "device_minute"}
    expect_equal(got, expected)
    truth = (out / "truth" / "events.jsonl").read_text().splitlines()
    labels = [json.loads(line)["labels"] for line in truth]
    assert all(any(kind in x for x in labels) for kind in ("late", "malformed", "duplicate_of"))


def test_web_unique_users_per_second_equal_the_duckdb_oracle(tmp_path):
    _, items, connection = demo(tmp_path, "web", "--users", "40", "--minutes", "3")
    rows = connection.execute(WEB).fetchall()
    columns = [d[0] for d in connection.description]
    expected = {r[0]: dict(zip(columns[1:], r[1:], strict=True)) for r in rows}
    got = {i["window_start_ms"]: i for i in items if i["job"] == "web_second"}
    expect_equal(got, expected)
