"""Reports on DuckDB over the lake's Parquet in S3 (the emulator's or AWS's).

DuckDB's httpfs extension cannot be installed offline, so the lake is read through pyarrow's S3
filesystem: each lake table is an Arrow dataset (Hive partitions ``dt``/``hour`` as strings, like
Athena's partition columns) registered with DuckDB under the Glue table's name; the ``v_*``
dedupe views and the reports are the Athena SQL transpiled by sqlglot. The session's time zone is
UTC, as Athena's is.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import sqlglot
from pyarrow import fs

from pipeline.errors import PipelineError
from pipeline.lake.ddl import view_name, view_select
from pipeline.lake.tables import PARTITION_KEYS, LakeTable

PARTITIONING = ds.partitioning(
    pa.schema([(key, pa.string()) for key in PARTITION_KEYS]), flavor="hive"
)


def to_duckdb(sql: str) -> str:
    """Athena (Trino) SQL -> DuckDB SQL."""
    try:
        statements = sqlglot.transpile(sql, read="athena", write="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise PipelineError(f"cannot parse report SQL: {exc}") from exc
    return ";\n".join(statements)


def lake_dataset(table: LakeTable, filesystem: fs.FileSystem, root: str) -> ds.Dataset:
    """The table's Parquet objects under ``root`` (``bucket`` or a local folder) as one dataset."""
    schema = table.schema
    for key in PARTITION_KEYS:
        schema = schema.append(pa.field(key, pa.string()))
    base = f"{root.rstrip('/')}/{table.location.rstrip('/')}"
    selector = fs.FileSelector(base, recursive=True, allow_not_found=True)
    files = [
        f.path
        for f in filesystem.get_file_info(selector)
        if f.type == fs.FileType.File and not f.base_name.startswith(("_", "."))
    ]
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


class LakeSession:
    """A DuckDB connection with the lake's tables and dedupe views defined."""

    def __init__(self, tables: dict[str, LakeTable], filesystem: fs.FileSystem, root: str) -> None:
        self.connection = duckdb.connect(config={"threads": 2})
        self.connection.execute("SET TimeZone = 'UTC'")
        self._datasets = {}
        for table in tables.values():
            dataset = lake_dataset(table, filesystem, root)
            self._datasets[table.name] = dataset
            self.connection.register(table.name, dataset)
            self.connection.execute(
                f"CREATE VIEW {view_name(table)} AS {to_duckdb(view_select(table))}"
            )

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        """Run Athena SQL; returns an Arrow table."""
        try:
            return self.connection.sql(to_duckdb(sql), params=parameters or None).to_arrow_table()
        except duckdb.Error as exc:
            raise PipelineError(f"report failed on DuckDB: {exc}") from exc

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> LakeSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
