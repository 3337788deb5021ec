"""The lake's tables, derived from the configuration.

One table per output: ``events_<type>`` (valid, deduplicated events), ``late_events``,
``dead_letters`` and ``window_<job>`` per declared job. Each is fed by its own Firehose delivery
stream that converts JSON to Parquet with the table's Glue schema and writes under Hive-style
partitions of the arrival time, ``<table>/dt=YYYY-MM-DD/hour=HH/``. Every table has a
deterministic id column (``id_column``): Firehose is append-only and a replay may re-send a row,
so readers count each id once.

``pipeline provision`` creates exactly these (Glue tables, delivery streams), the sinks write to
them and the reports read them: one definition, three users.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipeline.config import Config
from pipeline.core.results import DEAD_LETTER_SCHEMA, EVENT_METADATA, LATE_SCHEMA
from pipeline.core.times import format_duration

PARTITION_KEYS = ("dt", "hour")
PREFIX_TEMPLATE = "{table}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/"
ERROR_PREFIX_TEMPLATE = (
    "_errors/{table}/!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"
)

_HIVE_TYPES = {
    pa.string(): "string",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.float64(): "double",
    pa.float32(): "float",
    pa.bool_(): "boolean",
}


def hive_type(arrow_type: pa.DataType) -> str:
    """The Glue/Hive column type of an Arrow type."""
    try:
        return _HIVE_TYPES[arrow_type]
    except KeyError:
        raise TypeError(f"no Hive type for {arrow_type}") from None


@dataclass(frozen=True)
class LakeTable:
    """A lake table: its Glue name and schema, its delivery stream and its S3 prefix."""

    name: str
    schema: pa.Schema
    id_column: str
    delivery_stream: str
    description: str
    #: Among rows of one id, the one with the highest value of this column wins (None: any;
    #: the copies are equal)
    version_column: str | None = None
    #: Compaction writes rows in this order: time first, so that Parquet row-group statistics
    #: let readers skip row groups outside a time range
    sort_by: tuple[str, ...] = ()
    #: The event time in epoch milliseconds as an Athena SQL expression (event tables only)
    event_time_sql: str | None = None

    @property
    def prefix(self) -> str:
        """The Firehose prefix (with ``!{timestamp:...}`` expressions)."""
        return PREFIX_TEMPLATE.format(table=self.name)

    @property
    def error_prefix(self) -> str:
        return ERROR_PREFIX_TEMPLATE.format(table=self.name)

    @property
    def location(self) -> str:
        """The table's root under the bucket (no expressions)."""
        return f"{self.name}/"

    def glue_columns(self) -> list[dict[str, str]]:
        return [{"Name": f.name, "Type": hive_type(f.type)} for f in self.schema]


def lake_tables(config: Config) -> dict[str, LakeTable]:
    """Every lake table of this configuration, keyed ``events``, ``late``, ``dead_letters`` and
    ``result:<job>``."""
    etype = config.stream_type
    prefix = config.names.firehose_prefix
    events_name = f"events_{etype.name}"
    events_schema = etype.arrow_schema
    for field in EVENT_METADATA:
        events_schema = events_schema.append(field)
    tables = {
        "events": LakeTable(
            events_name,
            events_schema,
            etype.id_field,
            f"{prefix}{events_name.replace('_', '-')}",
            f"Valid, deduplicated {etype.name} events",
            sort_by=(etype.time_field, etype.id_field),
            event_time_sql=etype.event_time_sql(),
        ),
        "late": LakeTable(
            "late_events",
            LATE_SCHEMA,
            "record_id",
            f"{prefix}late-events",
            "Valid events that arrived after their window had closed, with the reason",
            sort_by=("event_time_ms", "record_id"),
        ),
        "dead_letters": LakeTable(
            "dead_letters",
            DEAD_LETTER_SCHEMA,
            "record_id",
            f"{prefix}dead-letters",
            "Records that are not valid events: raw bytes (base64), position and reason",
            sort_by=("approximate_arrival_ms", "record_id"),
        ),
    }
    for job in config.stream_jobs:
        name = f"window_{job.name}"
        tables[f"result:{job.name}"] = LakeTable(
            name,
            job.result_schema(),
            "result_id",
            f"{prefix}{name.replace('_', '-')}",
            f"Closed {format_duration(job.size_ms)} windows of job {job.name}",
            version_column="version",
            sort_by=("window_start_ms", *job.group_by, "result_id"),
        )
    return tables
