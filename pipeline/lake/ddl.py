"""Athena DDL of the lake: external tables (partition projection) and the dedupe views.

Generated from the same :class:`LakeTable` definitions that provisioning and the sinks use; the
files under ``sql/ddl/`` are this output for the default configuration (a test keeps them equal).
"""

from __future__ import annotations

from pipeline.lake.tables import PARTITION_KEYS, LakeTable

VIEW_PREFIX = "v_"


def view_name(table: LakeTable) -> str:
    return f"{VIEW_PREFIX}{table.name}"


def create_table(table: LakeTable, bucket: str) -> str:
    columns = ",\n".join(f"  `{c['Name']}` {c['Type']}" for c in table.glue_columns())
    partitions = ", ".join(f"`{key}` string" for key in PARTITION_KEYS)
    location = f"s3://{bucket}/{table.location}"
    return (
        f"-- {table.description}\n"
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{table.name}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({partitions})\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{location}'\n"
        "TBLPROPERTIES (\n"
        "  'projection.enabled' = 'true',\n"
        "  'projection.dt.type' = 'date',\n"
        "  'projection.dt.format' = 'yyyy-MM-dd',\n"
        "  'projection.dt.range' = '2020-01-01,NOW',\n"
        "  'projection.hour.type' = 'integer',\n"
        "  'projection.hour.range' = '0,23',\n"
        "  'projection.hour.digits' = '2',\n"
        f"  'storage.location.template' = '{location}dt=${{dt}}/hour=${{hour}}/'\n"
        ");\n"
    )


def view_select(table: LakeTable) -> str:
    """Each id once: Firehose is append-only and a replay may have re-sent a row; of versioned
    rows (window results merged from several shards' parts), the highest version."""
    columns = ", ".join(f.name for f in table.schema)
    order = f"{table.version_column} DESC, dt, hour" if table.version_column else "dt, hour"
    return (
        f"SELECT {columns}, dt, hour FROM (\n"
        f"  SELECT *, row_number() OVER (PARTITION BY {table.id_column} ORDER BY {order})"
        " AS copy_number\n"
        f"  FROM {table.name}\n"
        ") WHERE copy_number = 1"
    )


def create_view(table: LakeTable) -> str:
    return f"CREATE OR REPLACE VIEW {view_name(table)} AS\n{view_select(table)};\n"


def ddl_files(tables: dict[str, LakeTable], bucket: str) -> dict[str, str]:
    """File name -> Athena DDL: one file per table (with its view), in creation order."""
    return {
        f"{table.name}.sql": create_table(table, bucket) + "\n" + create_view(table)
        for table in tables.values()
    }
