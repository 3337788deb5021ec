"""The expected device_minute results for what the producer sent, computed with DuckDB SQL.

The authority for end-to-end runs without late or malformed records: it reads the producer's
ground truth (what was sent), not the stream, so a record lost on the way shows up, which
:mod:`pipeline.harness.oracle` (fed what the stream delivered) cannot see; and it shares no code
with the consumer (the SQL dedupes by event_id and aggregates per device and minute). Runs with
late or malformed records are judged by :mod:`pipeline.harness.oracle`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

DEVICE_MINUTE = """
WITH sent AS (
  SELECT json_extract_string(line.payload, '$.event_id') AS event_id, line.payload AS payload
  FROM read_json('{truth}', format = 'newline_delimited',
                 columns = {{payload: 'VARCHAR', labels: 'JSON'}}) AS line
  WHERE json_extract_string(line.labels, '$.control') IS NULL
), events AS (
  SELECT DISTINCT ON (event_id)
    json_extract_string(payload, '$.device_id') AS device_id,
    json_extract_string(payload, '$.device_type') AS device_type,
    json_extract_string(payload, '$.site') AS site,
    CAST(json_extract(payload, '$.ts') AS BIGINT) AS ts,
    CAST(json_extract(payload, '$.temperature') AS DOUBLE) AS temperature,
    CAST(json_extract(payload, '$.humidity') AS DOUBLE) AS humidity,
    CAST(json_extract(payload, '$.battery') AS DOUBLE) AS battery
  FROM sent
)
SELECT device_id, device_type, site, ts - ts % 60000 AS window_start_ms,
       count(*) AS events, avg(temperature) AS temperature_avg, min(temperature) AS temperature_min,
       max(temperature) AS temperature_max, avg(humidity) AS humidity_avg,
       min(battery) AS battery_min
FROM events GROUP BY ALL
"""
COLUMNS = [
    "device_id",
    "device_type",
    "site",
    "window_start_ms",
    "events",
    "temperature_avg",
    "temperature_min",
    "temperature_max",
    "humidity_avg",
    "battery_min",
]


def device_minute_oracle(truth: Path) -> dict[tuple[str, int], dict[str, Any]]:
    rows = duckdb.sql(DEVICE_MINUTE.format(truth=truth)).fetchall()
    return {(r[0], r[3]): dict(zip(COLUMNS, r, strict=True)) for r in rows}


def assert_results_equal_oracle(items: list[dict[str, Any]], oracle: dict) -> None:
    """Every results-table item equals the oracle: counts, min, max exactly; averages to 1e-12
    (sums added in another order)."""
    items = [i for i in items if i["job"] == "device_minute"]
    got = {(item["device_id"], item["window_start_ms"]): item for item in items}
    assert len(items) == len(got), "a window appears twice"
    assert got.keys() == oracle.keys()
    for key, want in oracle.items():
        item = got[key]
        assert item["window_end_ms"] == item["window_start_ms"] + 60_000
        for column in (
            "device_type",
            "site",
            "events",
            "temperature_min",
            "temperature_max",
            "battery_min",
        ):
            assert item.get(column) == want[column], (key, column)
        for column in ("temperature_avg", "humidity_avg"):
            if want[column] is None:
                assert item.get(column) is None, (key, column)
            else:
                assert item.get(column) == pytest.approx(want[column], rel=1e-12), (key, column)
