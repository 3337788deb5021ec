"""Compaction on the emulator's S3: same rows, fewer files, no partial state for any reader;
and schema evolution (a new optional column) across old and new objects."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.aws.clients import AwsClients
from pipeline.cli import main
from pipeline.core.errors import PipelineError
from pipeline.lake.compaction import Compactor, Partition
from pipeline.lake.layout import Deleter, data_files, s3_deleter
from pipeline.lake.tables import LakeTable, lake_tables
from pipeline.reports.duck import LakeSession
from tests.reports.lake_run import START_MS, lake_config

pytestmark = [pytest.mark.emulator]

PARTITION = Partition("2026-01-01", "00")
VIEW = "SELECT * FROM v_window_device_minute ORDER BY result_id"


def hooked(delete: Deleter, before_each: Callable[[str], None]) -> Deleter:
    """Deletes one object at a time, calling ``before_each(path)`` first."""

    def run(paths: list[str]) -> None:
        for path in paths:
            before_each(path)
            delete([path])

    return run


@pytest.fixture
def lake(emulator):
    config = lake_config(emulator.endpoint_url, f"c{uuid.uuid4().hex[:10]}")
    clients = AwsClients(config.aws)
    clients.s3.create_bucket(Bucket=config.names.bucket)
    return config, clients.arrow_s3_filesystem(), lake_tables(config), s3_deleter(clients.s3)


def _window_rows(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Window results as Firehose delivers them: several versions of some, re-sent copies."""
    rows = []
    for i in range(n):
        for version in range(1, rng.choice([1, 1, 2, 3]) + 1):
            row = {
                "result_id": f"device_minute|{START_MS + i * 60_000}|device_id=d{i % 7}",
                "job": "device_minute",
                "window_start_ms": START_MS + (i // 7) * 60_000,
                "window_end_ms": START_MS + (i // 7 + 1) * 60_000,
                "device_id": f"d{i % 7}",
                "device_type": "meter",
                "site": "s",
                "events": version * 3,
                "temperature_avg": 20.5 + i,
                "shards": "a" if version == 1 else "a,b",
                "version": version,
            }
            rows += [row] * rng.choice([1, 1, 1, 2])  # a replay re-sent some rows
    rng.shuffle(rows)
    return rows


def _write_small_objects(filesystem, table: LakeTable, bucket: str, rows: list, files: int) -> None:
    directory = f"{bucket}/{table.location}dt={PARTITION.dt}/hour={PARTITION.hour}"
    step = -(-len(rows) // files)
    for n in range(files):
        chunk = pa.Table.from_pylist(rows[n * step : (n + 1) * step], schema=table.schema)
        pq.write_table(chunk, f"{directory}/firehose-{n:03d}.parquet", filesystem=filesystem)


def _multiset(table: pa.Table) -> Counter:
    return Counter(tuple(sorted(row.items())) for row in table.to_pylist())


def test_compaction_keeps_every_row_once_in_fewer_sorted_files(lake):
    config, filesystem, tables, delete = lake
    table = tables["result:device_minute"]
    rows = _window_rows(120, random.Random(5))
    _write_small_objects(filesystem, table, config.names.bucket, rows, files=30)
    with LakeSession(tables, filesystem, config.names.bucket) as session:
        before = session.query(VIEW)
    highest: dict[str, dict] = {}
    for row in rows:
        if row["result_id"] not in highest or row["version"] > highest[row["result_id"]]["version"]:
            highest[row["result_id"]] = row

    compactor = Compactor(filesystem, config.names.bucket, delete=delete)
    ((partition, files),) = compactor.partitions(table)
    result = compactor.compact(table, partition, files)

    assert (result.files_before, result.files_after) == (30, 1)
    assert (result.rows_before, result.rows_after) == (len(rows), len(highest))
    (compacted,) = data_files(filesystem, f"{config.names.bucket}/{table.location}")
    stored = pq.read_table(compacted.path, filesystem=filesystem)
    assert _multiset(stored) == _multiset(
        pa.Table.from_pylist(list(highest.values()), schema=table.schema)
    )
    starts = stored.column("window_start_ms").to_pylist()
    assert starts == sorted(starts)  # sort_by: time first
    with LakeSession(tables, filesystem, config.names.bucket) as session:
        assert _multiset(session.query(VIEW)) == _multiset(before)  # what readers see: unchanged
    assert list(compactor.partitions(table)) == []  # nothing left to do: idempotent


def test_no_reader_ever_sees_a_partial_state(lake):
    """Every intermediate state (compacted object written, inputs deleted one by one) answers
    like before; a reader that listed the objects before compaction reads after it."""
    config, filesystem, tables, delete = lake
    table = tables["result:device_minute"]
    _write_small_objects(
        filesystem, table, config.names.bucket, _window_rows(60, random.Random(9)), 12
    )
    early_reader = LakeSession(tables, filesystem, config.names.bucket)  # lists the 12 objects
    expected = _multiset(early_reader.query(VIEW))
    seen: list[Counter] = []

    def read_now(_: str) -> None:
        with LakeSession(tables, filesystem, config.names.bucket) as reader:
            seen.append(_multiset(reader.query(VIEW)))

    compactor = Compactor(filesystem, config.names.bucket, delete=hooked(delete, read_now))
    ((partition, files),) = compactor.partitions(table)
    compactor.compact(table, partition, files)

    assert len(seen) == 12 and all(state == expected for state in seen)
    assert _multiset(early_reader.query(VIEW)) == expected  # its objects are gone: it relists
    early_reader.close()


def test_a_crash_before_the_deletes_loses_nothing_and_the_next_run_completes(lake):
    config, filesystem, tables, delete = lake
    table = tables["result:device_minute"]
    _write_small_objects(
        filesystem, table, config.names.bucket, _window_rows(40, random.Random(2)), 8
    )
    with LakeSession(tables, filesystem, config.names.bucket) as session:
        expected = _multiset(session.query(VIEW))

    def crash(_: str) -> None:
        raise OSError("killed")

    compactor = Compactor(filesystem, config.names.bucket, delete=hooked(delete, crash))
    ((partition, files),) = compactor.partitions(table)
    with pytest.raises(OSError, match="killed"):
        compactor.compact(table, partition, files)
    base = f"{config.names.bucket}/{table.location}"
    assert len(data_files(filesystem, base)) == 9  # inputs + the compacted object
    with LakeSession(tables, filesystem, config.names.bucket) as session:
        assert _multiset(session.query(VIEW)) == expected

    compactor = Compactor(filesystem, config.names.bucket, delete=delete)
    ((partition, files),) = compactor.partitions(table)
    compactor.compact(table, partition, files)
    assert len(data_files(filesystem, base)) == 1
    with LakeSession(tables, filesystem, config.names.bucket) as session:
        assert _multiset(session.query(VIEW)) == expected


def test_objects_delivered_during_compaction_stay(lake):
    config, filesystem, tables, delete = lake
    table = tables["result:device_minute"]
    rows = _window_rows(20, random.Random(4))
    _write_small_objects(filesystem, table, config.names.bucket, rows, 4)
    compactor = Compactor(filesystem, config.names.bucket, delete=delete)
    ((partition, files),) = compactor.partitions(table)
    late = pa.Table.from_pylist(
        [rows[0] | {"result_id": "late", "version": 1}], schema=table.schema
    )
    directory = partition.path(table, config.names.bucket)
    pq.write_table(late, f"{directory}/firehose-late.parquet", filesystem=filesystem)
    compactor.compact(table, partition, files)
    names = sorted(f.base_name for f in data_files(filesystem, directory))
    assert len(names) == 2 and names[1] == "firehose-late.parquet"


def test_a_new_optional_event_field_reads_as_null_in_older_partitions(lake):
    config, filesystem, tables, _ = lake
    events = tables["events"]
    newer = dataclasses.replace(
        events, schema=events.schema.append(pa.field("firmware", pa.string()))
    )
    old = {"event_id": "e1", "device_id": "d", "device_type": "meter", "site": "s", "ts": START_MS}
    new = old | {"event_id": "e2", "firmware": "2.1"}
    for dt, schema, row in (("2026-01-01", events.schema, old), ("2026-01-02", newer.schema, new)):
        directory = f"{config.names.bucket}/{events.location}dt={dt}/hour=00"
        table = pa.Table.from_pylist([row], schema=schema)
        pq.write_table(table, f"{directory}/part.parquet", filesystem=filesystem)
    evolved = tables | {"events": newer}
    with LakeSession(evolved, filesystem, config.names.bucket) as session:
        got = session.query("SELECT event_id, firmware, dt FROM v_events_iot ORDER BY event_id")
    assert got.to_pylist() == [
        {"event_id": "e1", "firmware": None, "dt": "2026-01-01"},
        {"event_id": "e2", "firmware": "2.1", "dt": "2026-01-02"},
    ]
    with LakeSession(tables, filesystem, config.names.bucket) as session:  # older readers too
        assert session.query("SELECT count(*) AS n FROM v_events ORDER BY n").to_pylist() == [
            {"n": 2}
        ]


def test_compaction_aligns_old_objects_and_refuses_to_drop_unknown_columns(lake):
    config, filesystem, tables, delete = lake
    events = tables["events"]
    newer = dataclasses.replace(
        events, schema=events.schema.append(pa.field("firmware", pa.string()))
    )
    directory = f"{config.names.bucket}/{events.location}dt=2026-01-01/hour=00"
    base = {"device_id": "d", "device_type": "meter", "site": "s", "ts": START_MS}
    old = pa.Table.from_pylist([base | {"event_id": "e1"}], schema=events.schema)
    new = pa.Table.from_pylist([base | {"event_id": "e2", "firmware": "2"}], schema=newer.schema)
    pq.write_table(old, f"{directory}/a.parquet", filesystem=filesystem)
    pq.write_table(new, f"{directory}/b.parquet", filesystem=filesystem)

    with pytest.raises(PipelineError, match="firmware"):  # the old schema would drop it
        compactor = Compactor(filesystem, config.names.bucket, delete=delete)
        ((partition, files),) = compactor.partitions(events)
        compactor.compact(events, partition, files)

    compactor = Compactor(filesystem, config.names.bucket, delete=delete)
    ((partition, files),) = compactor.partitions(newer)
    compactor.compact(newer, partition, files)
    (only,) = data_files(filesystem, directory)
    rows = pq.read_table(only.path, filesystem=filesystem).select(["event_id", "firmware"])
    assert rows.to_pylist() == [
        {"event_id": "e1", "firmware": None},
        {"event_id": "e2", "firmware": "2"},
    ]


def test_pipeline_compact_from_the_command_line(emulator, lake):
    config, filesystem, tables, _ = lake
    table = tables["result:device_minute"]
    rows = _window_rows(30, random.Random(3))
    _write_small_objects(filesystem, table, config.names.bucket, rows, files=6)
    env = {"PIPELINE_NAMES_BUCKET": config.names.bucket}
    args = ["--endpoint-url", emulator.endpoint_url, "compact"]
    dry = CliRunner().invoke(main, [*args, "--dry-run"], env=env)
    assert dry.stdout == "window_device_minute dt=2026-01-01 hour=00: 6 files\n"
    result = CliRunner().invoke(main, [*args, "window_device_minute", "--min-files", "3"], env=env)
    assert result.exit_code == 0, result.output
    kept = len({r["result_id"] for r in rows})
    assert result.stdout.startswith(
        f"window_device_minute dt=2026-01-01 hour=00: 6 files -> 1, {len(rows)} rows -> {kept} "
        f"({len(rows) - kept} duplicates)"
    )
    listed = AwsClients(config.aws).s3.list_objects_v2(Bucket=config.names.bucket)["Contents"]
    assert len(listed) == 1 and listed[0]["Key"].endswith("-000.parquet")  # no directory markers
    unknown = CliRunner().invoke(main, [*args, "nope"], env=env)
    assert unknown.exit_code == 1 and "unknown lake table(s) ['nope']" in unknown.output
