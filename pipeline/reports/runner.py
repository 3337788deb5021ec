"""Run a report on either engine: bind its parameters, prune partitions, check it can run.

An engine is anything with ``query(sql, parameters) -> pyarrow.Table`` taking Athena SQL with
``:name`` parameters: :class:`~pipeline.reports.duck.LakeSession` (DuckDB over the lake) or
:class:`~pipeline.reports.athena.AthenaSession`. With a time range that has a start, the report
reads only the arrival partitions that can hold it (:func:`portable.with_pruned_views`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pyarrow as pa
from sqlglot import exp

from pipeline.core.errors import PipelineError
from pipeline.lake.ddl import SINCE_DT, relation_columns
from pipeline.lake.tables import LakeTable
from pipeline.reports.catalog import Report
from pipeline.reports.portable import parse, with_pruned_views


class Engine(Protocol):
    def query(
        self, sql: str | exp.Expression, parameters: Mapping[str, Any] | None = None
    ) -> pa.Table: ...


def report_sql(
    report: Report, tables: dict[str, LakeTable], values: Mapping[str, Any]
) -> exp.Expression:
    """The report's query as it will run: views pruned to the arrival partitions from
    ``since_dt``/``since_hour`` on when they are bound."""
    missing = report.missing(relation_columns(tables))
    if missing:
        raise PipelineError(
            f"report {report.name} reads {', '.join(missing)}, which this configuration's lake "
            "does not have (another event type?)"
        )
    if values.get(SINCE_DT):
        return with_pruned_views(report.sql, tables)
    return parse(report.sql)


def run_report(
    engine: Engine, report: Report, tables: dict[str, LakeTable], values: Mapping[str, Any]
) -> pa.Table:
    """The report's result; ``values`` are bound parameters (:func:`params.bind`)."""
    return engine.query(report_sql(report, tables, values), values)
