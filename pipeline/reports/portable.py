"""One report SQL, two engines: Athena (Trino) SQL as written, and DuckDB by transpilation.

sqlglot translates most of Trino's SQL to DuckDB's, but three things need the lake's schema or a
rewrite to give the same answer on both (each has a test in ``tests/reports/test_portable.py``):

* **Integer division**: ``a / b`` of two integers truncates on Trino and is a double on DuckDB.
  The query is qualified and typed with the lake's columns (:func:`typed`), so sqlglot writes
  integer divisions as ``CAST(TRUNC(a / b) AS BIGINT)`` for DuckDB.
* **date_diff**: Trino counts whole units elapsed, DuckDB's ``date_diff`` counts unit boundaries
  crossed (10:59 to 11:01 is 0 hours on Trino, 1 on DuckDB); DuckDB's ``date_sub`` counts whole
  units, so ``date_diff`` becomes ``date_sub``.
* **Time zones**: DuckDB follows its session time zone where Athena uses UTC; every DuckDB
  session runs with ``TimeZone = 'UTC'`` (:mod:`pipeline.reports.duck`).

What cannot be made equal is rejected by :mod:`pipeline.reports.lint`.

Parameters are written ``:name`` in report SQL. DuckDB binds them by name (``$name``); Athena
binds ``?`` positionally, server side (``ExecutionParameters``): :func:`to_athena` turns the
names into ``?`` and returns the values in order as Athena literals. Nothing is ever pasted into
the SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from pipeline.core.errors import PipelineError
from pipeline.lake.ddl import common_views, view_dependencies, view_name, view_select
from pipeline.lake.tables import LakeTable

DIALECT = "athena"
Relations = Mapping[str, Mapping[str, str]]


def parse(sql: str | exp.Expression) -> exp.Expression:
    """One Athena SQL statement as a sqlglot tree (a copy when given a tree)."""
    if isinstance(sql, exp.Expression):
        return sql.copy()
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except ParseError as exc:
        raise PipelineError(f"cannot parse report SQL: {exc}") from exc
    if len(statements) != 1:
        raise PipelineError(f"a report is one SQL statement, got {len(statements)}")
    return statements[0]


def relations_read(expression: exp.Expression) -> set[str]:
    """The tables and views a query reads (names defined by its own WITH excluded)."""
    ctes = {cte.alias_or_name for cte in expression.find_all(exp.CTE)}
    return {t.name for t in expression.find_all(exp.Table) if t.name not in ctes}


def placeholders(expression: exp.Expression) -> set[str]:
    """Names of the ``:name`` parameters a query uses."""
    return {p.name for p in expression.find_all(exp.Placeholder)}


def typed(sql: str | exp.Expression, relations: Relations) -> exp.Expression:
    """The query qualified (every column bound to its relation) and typed with the lake's schema.

    Raises :class:`PipelineError` for an unknown relation or column.
    """
    expression = parse(sql)
    schema = MappingSchema({k: dict(v) for k, v in relations.items()}, dialect=DIALECT)
    try:
        expression = qualify(expression, schema=schema, dialect=DIALECT)
    except OptimizeError as exc:
        raise PipelineError(f"report SQL does not match the lake's schema: {exc}") from exc
    return annotate_types(expression, schema=schema)


def _date_diff_as_date_sub(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DateDiff):
        unit = node.text("unit").lower() or "day"
        return exp.Anonymous(
            this="date_sub",
            expressions=[exp.Literal.string(unit), node.expression, node.this],
        )
    return node


def to_duckdb(sql: str | exp.Expression, relations: Relations) -> str:
    """Athena SQL -> DuckDB SQL with Athena's answers (see the module docstring)."""
    expression = typed(sql, relations).transform(_date_diff_as_date_sub)
    return expression.sql(dialect="duckdb")


def athena_literal(value: Any) -> str:
    """A parameter value as the SQL literal Athena's ``ExecutionParameters`` expect."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if "e" in repr(value) else f"{value!r}e0"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"unsupported parameter type {type(value).__name__}")


_MARKER = re.compile(r":__p(\d+)\b")


def to_athena(sql: str | exp.Expression, values: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Athena SQL with ``?`` for each ``:name``, and the values as literals in textual order."""
    expression = parse(sql)
    names: list[str] = []

    def number(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            names.append(node.name)
            return exp.Placeholder(this=f"__p{len(names) - 1}")
        return node

    text = expression.transform(number).sql(dialect=DIALECT)
    order = [int(m.group(1)) for m in _MARKER.finditer(text)]
    if sorted(order) != list(range(len(names))):
        raise PipelineError("cannot order the report's parameters (a marker inside a literal?)")
    missing = sorted({n for n in names if n not in values})
    if missing:
        raise PipelineError(f"missing report parameter(s): {', '.join(missing)}")
    return _MARKER.sub("?", text), [athena_literal(values[names[i]]) for i in order]


def with_pruned_views(sql: str | exp.Expression, tables: dict[str, LakeTable]) -> exp.Expression:
    """The query with the views it reads redefined, in its own WITH, to read only the
    arrival partitions from ``(:since_dt, :since_hour)`` on (:func:`pipeline.lake.ddl.view_select`).

    A WITH entry named like a view shadows the view in both engines, so the report's text is
    unchanged; the views it reads through other views are redefined too.
    """
    expression = parse(sql)
    deps = view_dependencies(tables)
    needed: list[str] = []

    def visit(name: str) -> None:
        for dep in deps.get(name, ()):
            visit(dep)
        if name not in needed:
            needed.append(name)

    for name in sorted(relations_read(expression) & deps.keys()):
        visit(name)
    if not needed:
        return expression
    selects = {view_name(t): view_select(t, pruned=True) for t in tables.values()}
    selects.update(common_views(tables))
    ctes = [
        exp.CTE(this=parse(selects[name]), alias=exp.TableAlias(this=exp.to_identifier(name)))
        for name in needed
    ]
    existing = expression.args.get("with_")
    ctes += list(existing.expressions) if existing else []
    expression.set("with_", exp.With(expressions=ctes))
    return expression
