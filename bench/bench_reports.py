"""Reports over a large lake: time per report on the emulator's S3, against DuckDB reading the
same Parquet from local disk; bytes read with and without partition pruning.

For each lake size of ``--events`` (1M and 10M by default), the lake is written directly in the
layout Firehose gives it (no consumer run: 10M events through the pipeline would measure the
pipeline): seeded IoT events over ``--hours`` of event time, arriving a minute later,
``--objects`` small Parquet objects per arrival hour for ``events_iot`` and for
``window_device_minute`` (the 1-minute windows of the same events). The same objects go to the
embedded emulator's S3 and to a local folder. Per report, medians of ``--runs``:

* ``emulator S3``: :class:`~pipeline.reports.duck.LakeSession` over the emulator (pyarrow S3);
* ``local, LakeSession``: the same code over the local folder;
* ``local, DuckDB native`` (the baseline): DuckDB's own ``read_parquet`` of the local folder
  behind the same views and the same transpiled report SQL.

Bytes read are counted at the filesystem (what a reader fetches from S3), for each report over
the whole lake and with ``--since`` the last two hours of event time (the views pruned to the
partitions that can hold them).

    python -m bench.bench_reports [--events 1000000 10000000] [--hours 12] [--runs 3]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs

from pipeline.aws.clients import AwsClients
from pipeline.config import load_config
from pipeline.emulator import EmbeddedEmulator
from pipeline.lake.ddl import common_views, relation_columns, view_name, view_select
from pipeline.lake.tables import lake_tables
from pipeline.reports.catalog import report
from pipeline.reports.duck import LakeSession
from pipeline.reports.params import bind
from pipeline.reports.portable import to_duckdb
from pipeline.reports.runner import report_sql

T0 = 1_767_225_600_000
HOUR = 3_600_000
REPORTS = ("site_activity", "device_summary", "fleet_health", "site_timeseries", "pipeline_health")
TYPES = np.array(["thermostat", "meter", "tracker"])


def events(count: int, hours: int, devices: int) -> pa.Table:
    """Seeded events spread evenly over ``hours`` of event time, sorted by time."""
    rng = np.random.default_rng(7)
    device = rng.integers(0, devices, count)
    ts = np.sort(T0 + rng.integers(0, hours * HOUR, count))
    names = pa.array([f"device-{d:05d}" for d in range(devices)])
    sites = pa.array([f"site-{d % 20:02d}" for d in range(devices)])
    types = pa.array(TYPES[np.arange(devices) % 3])
    index = pa.array(device)
    ids = pc.binary_join_element_wise("e-", pc.cast(pa.array(np.arange(count)), pa.string()), "")
    return pa.table(
        {
            "event_id": ids,
            "device_id": names.take(index),
            "device_type": types.take(index),
            "site": sites.take(index),
            "ts": pa.array(ts),
            "temperature": pa.array(np.round(rng.normal(20, 8, count), 2)),
            "humidity": pa.array(np.round(rng.uniform(20, 80, count), 1)),
            "battery": pa.array(np.round(rng.uniform(5, 100, count), 1)),
            "shard_id": pa.array(["shardId-000000000000"] * count),
            "sequence_number": pc.cast(pa.array(np.arange(count)), pa.string()),
            "sub_sequence_number": pa.array(np.zeros(count, dtype=np.int64)),
        }
    )


def windows(events_table: pa.Table) -> pa.Table:
    """The device_minute job's results for these events (what the consumer writes)."""
    connection = duckdb.connect()
    connection.register("events_table", events_table)
    return connection.sql(
        """
        SELECT 'device_minute|' || (ts - ts % 60000) || '|device_id=' || device_id AS result_id,
               'device_minute' AS job, ts - ts % 60000 AS window_start_ms,
               ts - ts % 60000 + 60000 AS window_end_ms, device_id, device_type, site,
               count(*) AS events, avg(temperature) AS temperature_avg,
               min(temperature) AS temperature_min, max(temperature) AS temperature_max,
               avg(humidity) AS humidity_avg, min(battery) AS battery_min,
               'shardId-000000000000' AS shards, 1 AS version
        FROM events_table GROUP BY ALL ORDER BY window_start_ms
        """
    ).to_arrow_table()


def write_lake(tables: dict, events_table: pa.Table, targets: list, objects: int) -> int:
    """Each table's rows in ``objects`` Parquet objects per arrival hour, on every target."""
    written = 0
    for key, given, time_column in (
        ("events", events_table, "ts"),
        ("result:device_minute", windows(events_table), "window_end_ms"),
    ):
        table = tables[key]
        rows = given.cast(table.schema)
        arrival = pc.add(rows.column(time_column), 60_000).to_numpy()
        hours = (arrival - T0) // HOUR
        for hour in np.unique(hours):
            part = rows.filter(pa.array(hours == hour))
            at = time.gmtime((T0 + int(hour) * HOUR) / 1000)
            folder = f"{table.location}dt={time.strftime('%Y-%m-%d', at)}/hour={at.tm_hour:02d}"
            step = -(-part.num_rows // objects)
            for n in range(objects):
                chunk = part.slice(n * step, step)
                for filesystem, root in targets:
                    path = f"{root}/{folder}/firehose-{n:03d}.parquet"
                    if isinstance(filesystem, fs.LocalFileSystem):
                        filesystem.create_dir(str(Path(path).parent))
                    pq.write_table(chunk, path, filesystem=filesystem, compression="snappy")
                written += 1
    return written


class Counting(fs.FileSystemHandler):
    """Delegates to a filesystem and counts the bytes read from it."""

    def __init__(self, inner: fs.FileSystem) -> None:
        self.inner = inner
        self.bytes_read = 0

    def get_type_name(self) -> str:
        return "counting"

    def normalize_path(self, path: str) -> str:
        return self.inner.normalize_path(path)

    def equals(self, other: Any) -> bool:
        return self is other

    def get_file_info(self, paths: list[str]) -> list[fs.FileInfo]:
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: fs.FileSelector) -> list[fs.FileInfo]:
        return self.inner.get_file_info(selector)

    def open_input_file(self, path: str) -> Any:
        handler = self

        class Reader:
            def __init__(self) -> None:
                self.file = handler.inner.open_input_file(path)
                self.closed = False

            def read(self, n: int = -1) -> bytes:
                data = self.file.read(n)
                handler.bytes_read += len(data)
                return data

            def seek(self, offset: int, whence: int = 0) -> int:
                return self.file.seek(offset, whence)

            def tell(self) -> int:
                return self.file.tell()

            def size(self) -> int:
                return self.file.size()

            def readable(self) -> bool:
                return True

            def seekable(self) -> bool:
                return True

            def close(self) -> None:
                self.closed = True
                self.file.close()

        return pa.PythonFile(Reader(), mode="r")

    def open_input_stream(self, path: str) -> Any:
        return self.open_input_file(path)

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _unsupported
    delete_file = move = copy_file = open_output_stream = open_append_stream = _unsupported


def native_session(tables: dict, root: str) -> duckdb.DuckDBPyConnection:
    """DuckDB reading the local folder itself, behind the same views."""
    connection = duckdb.connect(config={"threads": 2})
    connection.execute("SET TimeZone = 'UTC'")
    relations = relation_columns(tables)
    for table in tables.values():
        files = list(Path(root, table.location).rglob("*.parquet"))
        if files:
            source = (
                f"read_parquet('{root}/{table.location}**/*.parquet', hive_partitioning = true, "
                "hive_types = {'dt': VARCHAR, 'hour': VARCHAR}, union_by_name = true)"
            )
            connection.execute(f"CREATE VIEW {table.name} AS SELECT * FROM {source}")
        else:
            empty = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in relations[table.name].items())
            connection.execute(f"CREATE VIEW {table.name} AS SELECT {empty} WHERE false")
    for table in tables.values():
        select = to_duckdb(view_select(table), relations)
        connection.execute(f"CREATE VIEW {view_name(table)} AS {select}")
    for name, select in common_views(tables).items():
        connection.execute(f"CREATE VIEW {name} AS {to_duckdb(select, relations)}")
    return connection


def median_seconds(run: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, nargs="+", default=[1_000_000, 10_000_000], help="lake sizes"
    )
    parser.add_argument("--hours", type=int, default=12)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--objects", type=int, default=20, help="objects per arrival hour")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="CI size: 200k events, 1 run")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    if args.quick:
        args.events, args.devices, args.runs = [200_000], 2_000, 1
    results = [lake_size(args, count) for count in args.events]
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))


def lake_size(args: argparse.Namespace, count: int) -> dict[str, Any]:
    """Write a lake of ``count`` events (both copies), then time and measure every report."""
    config = load_config(env={})
    tables = lake_tables(config)
    relations = relation_columns(tables)
    results: dict[str, Any] = {"events": count, "hours": args.hours, "reports": {}}
    with tempfile.TemporaryDirectory() as local, EmbeddedEmulator() as emulator:
        clients = AwsClients(config.with_endpoint(emulator.endpoint_url).aws)
        clients.s3.create_bucket(Bucket=config.names.bucket)
        s3 = clients.arrow_s3_filesystem()
        started = time.perf_counter()
        data = events(count, args.hours, args.devices)
        objects = write_lake(
            tables, data, [(s3, config.names.bucket), (fs.LocalFileSystem(), local)], args.objects
        )
        print(
            f"\nlake: {count:,} events, {objects} objects per copy "
            f"({time.perf_counter() - started:.0f} s to write both copies)"
        )
        since = bind({"since_ms": T0 + (args.hours - 2) * HOUR})
        everything = bind({})
        counting = Counting(s3)
        sessions = {
            "emulator S3": LakeSession(tables, s3, config.names.bucket),
            "local, LakeSession": LakeSession(tables, fs.LocalFileSystem(), local),
        }
        pruning = LakeSession(tables, fs.PyFileSystem(counting), config.names.bucket)
        native = native_session(tables, local)
        print(
            f"{'report':16} {'emulator S3 s':>13} {'local LakeSession s':>20} "
            f"{'local DuckDB s':>15} {'S3 / DuckDB':>12} {'MB read, all':>13} "
            f"{'MB read, 2 h':>13}"
        )
        for name in REPORTS:
            spec = report(name)
            row: dict[str, Any] = {}
            for label, session in sessions.items():
                sql = report_sql(spec, tables, everything)
                row[label] = median_seconds(
                    lambda s=session, q=sql: s.query(q, everything), args.runs
                )
            sql = to_duckdb(report_sql(spec, tables, everything), relations)
            params = {k: v for k, v in everything.items() if f"${k}" in sql}
            row["local, DuckDB native"] = median_seconds(
                lambda q=sql, p=params: native.execute(q, p).fetchall(), args.runs
            )
            for label, values in (("bytes, all", everything), ("bytes, last 2 h", since)):
                counting.bytes_read = 0
                pruning.query(report_sql(spec, tables, values), values)
                row[label] = counting.bytes_read
            results["reports"][name] = row
            ratio = row["emulator S3"] / row["local, DuckDB native"]
            print(
                f"{name:16} {row['emulator S3']:>13.2f} {row['local, LakeSession']:>20.2f} "
                f"{row['local, DuckDB native']:>15.2f} {ratio:>12.1f} "
                f"{row['bytes, all'] / 1e6:>13.1f} {row['bytes, last 2 h'] / 1e6:>13.1f}"
            )
    return results


if __name__ == "__main__":
    main()
