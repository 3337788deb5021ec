"""Reports on DuckDB over the lake's Parquet in S3 (the emulator's or AWS's) or on local disk.

DuckDB's httpfs extension cannot be installed offline, so the lake is read through pyarrow's
filesystem: each lake table is an Arrow dataset (Hive partitions ``dt``/``hour`` as strings, like
Athena's partition columns) registered with DuckDB under the Glue table's name; the views (the
dedupe ``v_*`` views and the common ones) and the reports are the Athena SQL transpiled by
:mod:`pipeline.reports.portable`. The session's time zone is UTC, as Athena's is.

A table's objects are listed when the session opens and again when a query finds one gone
(compaction replaced it): the query is then re-run on a fresh listing, so a reader never fails
on, nor sees a partial state of, a compaction (:mod:`pipeline.lake.compaction`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs

from pipeline.aws.clients import AwsClients
from pipeline.aws.errors import arrow_errors, translate_arrow
from pipeline.aws.s3 import bucket_resource, listed_filesystem
from pipeline.core.errors import PipelineError
from pipeline.lake.ddl import common_views, relation_columns, view_name, view_select
from pipeline.lake.layout import data_files, table_base
from pipeline.lake.tables import PARTITION_KEYS, LakeTable
from pipeline.reports.portable import parse, placeholders, to_duckdb

log = logging.getLogger(__name__)

PARTITIONING = ds.partitioning(
    pa.schema([(key, pa.string()) for key in PARTITION_KEYS]), flavor="hive"
)
#: How many times a query is re-run on a fresh listing when an object it listed is gone.
RELIST_ATTEMPTS = 5
#: How a vanished object shows in DuckDB's error about an Arrow dataset (S3, local disk)
_GONE = ("NO_SUCH_KEY", "NoSuchKey", "No such file or directory", "Path does not exist")


def lake_dataset(table: LakeTable, filesystem: fs.FileSystem, root: str) -> ds.Dataset:
    """The table's Parquet objects under ``root`` (``bucket`` or a local folder) as one dataset.

    Read with the table's current schema: a column added since an object was written reads as
    null there (schema evolution), whatever order the columns were written in.
    """
    schema = table.schema
    for key in PARTITION_KEYS:
        schema = schema.append(pa.field(key, pa.string()))
    base = table_base(table, root)
    files = [f.path for f in data_files(filesystem, base)]
    if not files:
        return ds.dataset(schema.empty_table())
    return ds.dataset(
        files,
        schema=schema,
        format="parquet",
        filesystem=filesystem,
        partitioning=PARTITIONING,
        partition_base_dir=base,
    )


def _as_athena_types(table: pa.Table) -> pa.Table:
    """DuckDB sums integers into HUGEINT (Arrow decimal(38, 0)) where Trino returns a bigint:
    give the bigint (a sum beyond its range fails on both engines' terms: here, loudly)."""
    fields = [
        pa.field(f.name, pa.int64()) if pa.types.is_decimal(f.type) and f.type.scale == 0 else f
        for f in table.schema
    ]
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)


class LakeSession:
    """A DuckDB connection with the lake's tables and views defined."""

    def __init__(
        self,
        tables: dict[str, LakeTable],
        filesystem: fs.FileSystem,
        root: str,
        threads: int = 2,
    ) -> None:
        self.tables = tables
        self.filesystem = filesystem
        self.root = root
        self.resource = f"the lake in {bucket_resource(root)}"
        self.relations = relation_columns(tables)
        self.connection = duckdb.connect(config={"threads": threads})
        self.connection.execute("SET TimeZone = 'UTC'")
        self.refresh()
        for table in tables.values():
            self._create_view(view_name(table), view_select(table))
        for name, select in common_views(tables).items():
            self._create_view(name, select)

    @classmethod
    def on_bucket(
        cls, tables: dict[str, LakeTable], clients: AwsClients, bucket: str
    ) -> LakeSession:
        """A session over the lake in ``bucket``, once the bucket was found listable (so that a
        missing bucket, bad credentials or a wrong endpoint are named as such)."""
        return cls(tables, listed_filesystem(clients, bucket), bucket)

    def _create_view(self, name: str, select: str) -> None:
        self.connection.execute(f"CREATE VIEW {name} AS {to_duckdb(select, self.relations)}")

    def refresh(self) -> None:
        """List every table's objects again (new Firehose deliveries, compactions)."""
        for table in self.tables.values():
            with arrow_errors(self.resource):
                dataset = lake_dataset(table, self.filesystem, self.root)
            self.connection.register(table.name, dataset)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        """Run Athena SQL (parameters as ``:name``); returns an Arrow table."""
        expression = parse(sql)
        used = placeholders(expression)
        missing = sorted(used - set(parameters or {}))
        if missing:
            raise PipelineError(f"missing report parameter(s): {', '.join(missing)}")
        bound = {name: value for name, value in (parameters or {}).items() if name in used}
        text = to_duckdb(expression, self.relations)
        attempt = 1
        while True:
            try:
                result = self.connection.sql(text, params=bound or None).to_arrow_table()
                return _as_athena_types(result)
            except duckdb.Error as exc:
                gone = "registered as" in str(exc) and any(s in str(exc) for s in _GONE)
                if attempt == RELIST_ATTEMPTS or not gone:
                    failed = PipelineError(f"report failed on DuckDB: {exc}")
                    raise translate_arrow(exc, self.resource) or failed from exc
                log.info(
                    "an object was replaced while reading; listing again",
                    extra={"attempt": attempt, "error": str(exc)[:200]},
                )
                self.refresh()
                attempt += 1

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> LakeSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
