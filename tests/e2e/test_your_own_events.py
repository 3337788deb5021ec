"""Bring your own events: a type declared in configuration, a file of real records, the demo.

A user's type that neither shipped type resembles (ISO-8601 times with offsets, an int with
choices, a bool, a float sum) is written as a file with duplicates, disorder and bad lines;
``pipeline demo --input`` runs it end to end on the emulator, and every DynamoDB window result
must equal DuckDB's computation over the valid lines of the same file.
"""

from __future__ import annotations

import datetime
import json
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

CONFIG = """
[stream]
event_type = "meter_reading"

[[event_types]]
name = "meter_reading"
id_field = "reading_id"
time_field = "read_at"
time_format = "iso8601"
partition_key = "meter"

[event_types.fields]
reading_id = { type = "string", max_length = 64 }
meter = { type = "string", pattern = "^m-[0-9]{3}$" }
region = { type = "string", choices = ["north", "south", "east"] }
read_at = { type = "timestamp" }
kwh = { type = "float", min = 0, max = 50 }
phase = { type = "int", choices = [1, 2, 3] }
estimated = { type = "bool", required = false }

[[jobs]]
name = "region_10m"
source = "meter_reading"
window = "10m"
lateness = "2m"
group_by = ["region"]

[jobs.metrics]
readings = "count()"
kwh_total = "sum(kwh)"
kwh_max = "max(kwh)"
meters = "count_distinct(meter)"
single_phase = "count() if phase = 1"

[[alerts]]
name = "quiet_region"
job = "region_10m"
when = "readings < 1"
"""
T0 = datetime.datetime(2026, 3, 1, 8, 0, tzinfo=datetime.UTC)
OFFSETS = [
    datetime.timedelta(0),
    datetime.timedelta(hours=5, minutes=30),
    -datetime.timedelta(hours=8),
]


def _reading(rng: random.Random, n: int, at: datetime.datetime) -> dict:
    zone = datetime.timezone(rng.choice(OFFSETS))
    text = at.astimezone(zone).isoformat(timespec="milliseconds")
    meter = rng.randrange(40)
    reading = {
        "read_at": text.replace("+00:00", "Z") if rng.random() < 0.5 else text,
        "meter": f"m-{meter:03d}",
        "region": ["north", "south", "east"][meter % 3],
        "reading_id": f"r-{n}",
        "kwh": round(rng.uniform(0, 50), 3),
        "phase": rng.choice([1, 2, 3]),
        "tariff": "night",  # a field the declaration does not know: ignored
    }
    if rng.random() < 0.7:
        reading["estimated"] = rng.random() < 0.2
    return reading


def _file(tmp_path: Path) -> tuple[Path, Path, int]:
    """The input file, a file of its valid lines (first copies only), and its bad-line count."""
    rng = random.Random(13)
    lines, valid, bad = [], [], 0
    retries: list[tuple[int, str]] = []
    for n in range(3000):
        while retries and retries[0][0] <= n:
            lines.append(retries.pop(0)[1])
        at = T0 + datetime.timedelta(milliseconds=n * 1200 + rng.randrange(0, 1000))
        if rng.random() < 0.05:  # out of order: well within the 2 minutes of lateness
            at -= datetime.timedelta(seconds=rng.randrange(1, 60))
        line = json.dumps(_reading(rng, n, at))
        lines.append(line)
        valid.append(line)
        if rng.random() < 0.04:  # a retried put: the same bytes again, a little later
            retries.append((n + rng.randrange(1, 20), line))
        if rng.random() < 0.01:
            lines.append(rng.choice(["not json", '{"reading_id": 3}', line.replace("kwh", "KWH")]))
            bad += 1
        if rng.random() < 0.005:  # a time without its zone: a dead letter
            zoneless = dict(json.loads(line), reading_id=f"z-{n}", read_at="2026-03-01T08:30:00")
            lines.append(json.dumps(zoneless))
            bad += 1
    (tmp_path / "input.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "valid.ndjson").write_text("\n".join(valid) + "\n", encoding="utf-8")
    return tmp_path / "input.ndjson", tmp_path / "valid.ndjson", bad


ORACLE = """
SELECT region, epoch_ms(read_time) // 600000 * 600000 AS window_start_ms,
       count(*) AS readings, sum(kwh) AS kwh_total, max(kwh) AS kwh_max,
       count(DISTINCT meter) AS meters, count(*) FILTER (WHERE phase = 1) AS single_phase
FROM (SELECT *, CAST(read_at AS TIMESTAMPTZ) AS read_time
      FROM read_json('{valid}', format = 'newline_delimited',
                     columns = {{reading_id: 'VARCHAR', meter: 'VARCHAR', region: 'VARCHAR',
                                read_at: 'VARCHAR', kwh: 'DOUBLE', phase: 'BIGINT'}}))
GROUP BY ALL
"""


def test_demo_input_on_a_declared_type_equals_duckdb_over_the_same_file(tmp_path):
    config = tmp_path / "meters.toml"
    config.write_text(CONFIG, encoding="utf-8")
    source, valid, bad = _file(tmp_path)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pipeline.cli", "--config", str(config), "demo"]
    command += ["--out", str(out), "--input", str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        rows = db.sql(ORACLE.format(valid=valid)).fetchall()
    columns = ["region", "window_start_ms", "readings", "kwh_total", "kwh_max", "meters"]
    oracle = {(r[0], r[1]): dict(zip([*columns, "single_phase"], r, strict=True)) for r in rows}
    (table,) = (out / "dynamodb").glob("*.jsonl")
    items = [json.loads(line) for line in table.read_text().splitlines()]
    got = {(i["region"], i["window_start_ms"]): i for i in items if i["job"] == "region_10m"}
    assert len(oracle) >= 18  # 3 regions, an hour of 10-minute windows (and disorder before it)
    assert got.keys() == oracle.keys() and len(got) == len(items)
    for key, want in oracle.items():
        item = got[key]
        assert item["window_end_ms"] == key[1] + 600_000
        for column in ("readings", "kwh_max", "meters", "single_phase"):
            assert item[column] == want[column], (key, column)
        assert item["kwh_total"] == pytest.approx(want["kwh_total"], rel=1e-12), key

    truth = [json.loads(line) for line in (out / "truth" / "events.jsonl").read_text().splitlines()]
    sent = [t["payload"] for t in truth if not t["labels"].get("control")]
    assert sent == source.read_text(encoding="utf-8").splitlines()  # every line, as it was
    assert "dead letters" in done.stdout
    dead = int(done.stdout.split(" dead letters")[0].rsplit(" ", 1)[1])
    assert dead == bad
