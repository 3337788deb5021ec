"""Athena DDL of the lake: external tables (partition projection), the dedupe views and the
common views every report may use.

Generated from the same :class:`LakeTable` definitions that provisioning and the sinks use; the
files under ``sql/ddl/`` are this output for the default configuration (a test keeps them equal).
DuckDB runs the same view SQL, transpiled (:mod:`pipeline.reports.duck`).

Views:

* ``v_<table>``: each deterministic id once (Firehose is append-only: a replay may re-send a
  row); of versioned rows (window results merged from several shards' parts), the highest.
* ``v_events``: every valid event of the configured type as ``event_id``, ``event_time_ms`` and
  its position (``shard_id``, ``sequence_number``, ``sub_sequence_number``).
* ``v_window_results``: the columns every job's results share, all jobs in one relation.
"""

from __future__ import annotations

from pipeline.lake.tables import PARTITION_KEYS, LakeTable

VIEW_PREFIX = "v_"
EVENTS_VIEW = "v_events"
RESULTS_VIEW = "v_window_results"
VIEWS_FILE = "views.sql"
#: The named parameters of the partition predicate of pruned views: the first arrival partition.
SINCE_DT = "since_dt"
SINCE_HOUR = "since_hour"
PRUNE_PREDICATE = f"dt > :{SINCE_DT} OR (dt = :{SINCE_DT} AND hour >= :{SINCE_HOUR})"
RESULT_COLUMNS = ("result_id", "job", "window_start_ms", "window_end_ms", "shards", "version")
_EVENT_COLUMNS = {
    "event_id": "string",
    "event_time_ms": "bigint",
    "shard_id": "string",
    "sequence_number": "string",
    "sub_sequence_number": "bigint",
}


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


def view_select(table: LakeTable, pruned: bool = False) -> str:
    """Each id once: Firehose is append-only and a replay may have re-sent a row; of versioned
    rows (window results merged from several shards' parts), the highest version.

    ``pruned`` reads only the partitions from ``(:since_dt, :since_hour)`` on: the predicate
    sits *below* the dedupe, where engines can prune partitions with it (a filter on ``dt``
    above a window function partitioned by id cannot be pushed down). Exact as long as every
    copy of a row arrives no earlier than that hour, which the report runner ensures by choosing
    it a margin before the time range (:mod:`pipeline.reports.params`).
    """
    columns = ", ".join(f.name for f in table.schema)
    order = f"{table.version_column} DESC, dt, hour" if table.version_column else "dt, hour"
    where = f"\n  WHERE {PRUNE_PREDICATE}" if pruned else ""
    return (
        f"SELECT {columns}, dt, hour FROM (\n"
        f"  SELECT *, row_number() OVER (PARTITION BY {table.id_column} ORDER BY {order})"
        " AS copy_number\n"
        f"  FROM {table.name}{where}\n"
        ") WHERE copy_number = 1"
    )


def create_view(name: str, select: str) -> str:
    return f"CREATE OR REPLACE VIEW {name} AS\n{select};\n"


def common_views(tables: dict[str, LakeTable]) -> dict[str, str]:
    """View name -> Athena SELECT of the views shared by all event types, in creation order."""
    views = {}
    events = tables.get("events")
    if events is not None and events.event_time_sql:
        views[EVENTS_VIEW] = (
            f"SELECT {events.id_column} AS event_id, {events.event_time_sql} AS event_time_ms, "
            f"shard_id, sequence_number, sub_sequence_number, dt, hour FROM {view_name(events)}"
        )
    results = [t for key, t in tables.items() if key.startswith("result:")]
    if results:
        columns = ", ".join((*RESULT_COLUMNS, *PARTITION_KEYS))
        views[RESULTS_VIEW] = "\nUNION ALL\n".join(
            f"SELECT {columns} FROM {view_name(t)}" for t in results
        )
    return views


def relation_columns(tables: dict[str, LakeTable]) -> dict[str, dict[str, str]]:
    """Every relation reports can read (tables and views) -> column -> Hive type."""
    partitions = {key: "string" for key in PARTITION_KEYS}
    relations: dict[str, dict[str, str]] = {}
    for table in tables.values():
        columns = {c["Name"]: c["Type"] for c in table.glue_columns()} | partitions
        relations[table.name] = columns
        relations[view_name(table)] = columns
    views = common_views(tables)
    if EVENTS_VIEW in views:
        relations[EVENTS_VIEW] = _EVENT_COLUMNS | partitions
    if RESULTS_VIEW in views:
        relations[RESULTS_VIEW] = {
            name: "bigint" if name.endswith("_ms") or name == "version" else "string"
            for name in RESULT_COLUMNS
        } | partitions
    return relations


def view_dependencies(tables: dict[str, LakeTable]) -> dict[str, tuple[str, ...]]:
    """View -> the views it reads (the common views read the per-table ones)."""
    deps: dict[str, tuple[str, ...]] = {view_name(t): () for t in tables.values()}
    views = common_views(tables)
    if EVENTS_VIEW in views:
        deps[EVENTS_VIEW] = (view_name(tables["events"]),)
    if RESULTS_VIEW in views:
        deps[RESULTS_VIEW] = tuple(
            view_name(t) for key, t in tables.items() if key.startswith("result:")
        )
    return deps


def tables_read(relations: set[str] | frozenset[str], tables: dict[str, LakeTable]) -> set[str]:
    """The lake tables behind ``relations`` (tables and views)."""
    deps = view_dependencies(tables)
    by_view = {view_name(t): t.name for t in tables.values()}
    found: set[str] = set()
    pending = list(relations)
    while pending:
        name = pending.pop()
        if name in by_view:
            found.add(by_view[name])
        elif name in deps:
            pending.extend(deps[name])
        else:
            found.add(name)
    return found


def ddl_files(tables: dict[str, LakeTable], bucket: str) -> dict[str, str]:
    """File name -> Athena DDL: one file per table (with its view), then the common views; run
    them in this order (a view must be created after the views it reads)."""
    files = {
        f"{table.name}.sql": create_table(table, bucket)
        + "\n"
        + create_view(view_name(table), view_select(table))
        for table in tables.values()
    }
    common = common_views(tables)
    if common:
        files[VIEWS_FILE] = "-- Views shared by every event type\n" + "\n".join(
            create_view(name, select) for name, select in common.items()
        )
    return files
