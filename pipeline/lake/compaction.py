"""Compaction: rewrite a partition's many small Firehose objects into few large sorted ones.

Firehose writes one object per buffer flush: many small files, which make every scan slow (one
request per object) and costly. :meth:`Compactor.compact` rewrites one partition
(``<table>/dt=.../hour=.../``):

1. list its data objects (the *inputs*); read them with the table's current schema (a column
   added since an object was written is null there; an object with a column the schema lacks
   is refused rather than silently dropped);
2. keep each deterministic id once (of versioned rows the highest version, as the views do) and
   sort by the table's ``sort_by`` (time first: row-group statistics then skip time ranges);
3. write ``compacted-<digest>-NNN.parquet`` objects (each one PUT: it appears whole or not at
   all), named after the inputs, so a retry writes the same names;
4. check the written row count, then delete the inputs (only those: objects Firehose delivered
   meanwhile stay for the next run).

Readers go through the ``v_*`` views, which count each id once: between 3 and 4 every row is
there twice and the views' answer is unchanged; after 4 it is there once. So a reader sees the
partition before or after, never a partial state, and a crash anywhere leaves a partition the
next run completes. A DuckDB reader that listed an object just deleted lists again
(:class:`~pipeline.reports.duck.LakeSession`); an Athena query caught by a delete fails with
``NoSuchKey`` and can simply be re-run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from pipeline.core.errors import PipelineError
from pipeline.lake.layout import Deleter, data_files, filesystem_deleter, table_base
from pipeline.lake.tables import LakeTable

log = logging.getLogger(__name__)

COMPACTED_PREFIX = "compacted-"
DEFAULT_TARGET_BYTES = 128 * 1024 * 1024
ROW_GROUP_ROWS = 1_000_000


@dataclass(frozen=True)
class Partition:
    dt: str
    hour: str

    def path(self, table: LakeTable, root: str) -> str:
        return f"{table_base(table, root)}/dt={self.dt}/hour={self.hour}"


@dataclass(frozen=True)
class CompactionResult:
    table: str
    partition: Partition
    files_before: int
    files_after: int
    rows_before: int
    rows_after: int
    bytes_before: int
    bytes_after: int

    @property
    def duplicates_removed(self) -> int:
        return self.rows_before - self.rows_after


def _partition_of(path: str, base: str) -> Partition | None:
    parts = dict(p.split("=", 1) for p in path[len(base) + 1 :].split("/")[:-1] if "=" in p)
    if "dt" in parts and "hour" in parts:
        return Partition(parts["dt"], parts["hour"])
    return None


def _aligned(table: pa.Table, schema: pa.Schema, path: str) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order (missing ones null)."""
    extra = sorted(set(table.column_names) - set(schema.names))
    if extra:
        raise PipelineError(
            f"{path} has columns {extra} that the table's schema lacks: compact it with the "
            "configuration that wrote it"
        )
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


class Compactor:
    """Compacts the partitions of lake tables under ``root`` (a bucket or a local folder)."""

    def __init__(
        self,
        filesystem: fs.FileSystem,
        root: str,
        target_bytes: int = DEFAULT_TARGET_BYTES,
        min_files: int = 2,
        delete: Deleter | None = None,
    ) -> None:
        """``delete`` removes objects (default: through ``filesystem``; on S3 pass
        :func:`~pipeline.lake.layout.s3_deleter`, which leaves no directory markers)."""
        self.filesystem = filesystem
        self.delete = delete or filesystem_deleter(filesystem)
        self.root = root
        self.target_bytes = target_bytes
        self.min_files = max(2, min_files)

    def partitions(
        self, table: LakeTable, since_dt: str = "", until_dt: str = ""
    ) -> Iterator[tuple[Partition, list[fs.FileInfo]]]:
        """Partitions with at least ``min_files`` objects (``since_dt <= dt <= until_dt``)."""
        base = table_base(table, self.root)
        grouped: dict[Partition, list[fs.FileInfo]] = {}
        for info in data_files(self.filesystem, base):
            partition = _partition_of(info.path, base)
            if partition is None:
                continue
            if (since_dt and partition.dt < since_dt) or (until_dt and partition.dt > until_dt):
                continue
            grouped.setdefault(partition, []).append(info)
        for partition in sorted(grouped, key=lambda p: (p.dt, p.hour)):
            files = sorted(grouped[partition], key=lambda f: f.path)
            if len(files) >= self.min_files:
                yield partition, files

    def _read(self, table: LakeTable, files: list[fs.FileInfo]) -> pa.Table:
        parts = [
            _aligned(pq.read_table(f.path, filesystem=self.filesystem), table.schema, f.path)
            for f in files
        ]
        return pa.concat_tables(parts) if parts else table.schema.empty_table()

    def _deduped(self, table: LakeTable, rows: pa.Table) -> pa.Table:
        order = f"{table.version_column} DESC" if table.version_column else "1"
        sort = ", ".join(f'"{c}"' for c in table.sort_by) or f'"{table.id_column}"'
        connection = duckdb.connect(config={"threads": 1})
        query = (
            "SELECT * FROM input_rows QUALIFY row_number() OVER "
            f'(PARTITION BY "{table.id_column}" ORDER BY {order}) = 1 ORDER BY {sort}'
        )
        try:
            connection.register("input_rows", rows)
            return connection.sql(query).to_arrow_table().cast(table.schema)
        finally:
            connection.close()

    def compact(
        self, table: LakeTable, partition: Partition, files: list[fs.FileInfo]
    ) -> CompactionResult:
        """Rewrite ``files`` (objects of ``partition``) as few sorted objects; see the module."""
        rows = self._read(table, files)
        kept = self._deduped(table, rows)
        digest = hashlib.sha256(
            "\n".join(f"{f.path}:{f.size}" for f in files).encode()
        ).hexdigest()[:16]
        directory = partition.path(table, self.root)
        per_file = max(1, int(self.target_bytes * max(kept.num_rows, 1) / max(kept.nbytes, 1)))
        written: list[str] = []
        for number, start in enumerate(range(0, max(kept.num_rows, 1), per_file)):
            path = f"{directory}/{COMPACTED_PREFIX}{digest}-{number:03d}.parquet"
            pq.write_table(
                kept.slice(start, per_file),
                path,
                filesystem=self.filesystem,
                compression="snappy",
                row_group_size=ROW_GROUP_ROWS,
            )
            written.append(path)
        check = sum(pq.read_metadata(p, filesystem=self.filesystem).num_rows for p in written)
        if check != kept.num_rows:
            raise PipelineError(f"{directory}: wrote {check} rows, expected {kept.num_rows}")
        self.delete([f.path for f in files if f.path not in written])
        after = self.filesystem.get_file_info(written)
        result = CompactionResult(
            table.name,
            partition,
            len(files),
            len(written),
            rows.num_rows,
            kept.num_rows,
            sum(f.size or 0 for f in files),
            sum(f.size or 0 for f in after),
        )
        log.info(
            "partition compacted",
            extra={
                "table": table.name,
                "dt": partition.dt,
                "hour": partition.hour,
                "files_before": result.files_before,
                "rows_removed": result.duplicates_removed,
            },
        )
        return result
