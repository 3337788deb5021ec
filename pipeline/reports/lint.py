"""Reject report SQL that would answer differently on Athena (Trino) and on DuckDB.

:mod:`pipeline.reports.portable` makes integer division, ``date_diff`` and the session time zone
agree; what it cannot make agree is a finding here. Each rule names a construct and says why and
what to write instead (every rule has a test that shows the difference it guards against):

* ``division``: ``/`` unless both sides are integers (transpiled to truncation) or one side is a
  double and neither a decimal: Trino divides decimals at the operands' scale (``1 / 3.0`` is
  ``0.3``), DuckDB in floating point (``0.333…``). Write ``1e0`` or ``CAST(x AS double)``.
* ``date-unit``: ``date_diff`` in months, quarters or years: the engines disagree at month ends.
* ``time-zone``: ``AT TIME ZONE``, ``at_timezone``, ``with_timezone``, the current time or zone:
  they depend on the session's zone and clock; pass times as parameters.
* ``approximate``: ``approx_distinct``, ``approx_percentile``, HyperLogLog: other algorithms,
  other answers.
* ``regex``: Trino's regular expressions (Joni) are not DuckDB's (RE2).
* ``float-text``: a double cast to text (``1.0E20`` on Trino, ``1e+20`` on DuckDB).
* ``nondeterministic``: ``arbitrary``, ``rand``, ``uuid``.
* ``unknown-function``: a function sqlglot does not know is passed to DuckDB unchanged.
* ``order``: the result has no ORDER BY: row order is the engine's choice.
* ``parameter``: a ``:name`` that is not a declared report parameter.
* ``schema``: a relation or column the lake does not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from pipeline.core.errors import PipelineError
from pipeline.reports.params import PARAMETERS
from pipeline.reports.portable import Relations, parse, typed

INTEGERS = exp.DataType.INTEGER_TYPES
FLOATS = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}
FIXED_UNITS = {"millisecond", "second", "minute", "hour", "day", "week"}
_TIME_ZONE_FUNCTIONS = {"at_timezone", "with_timezone", "current_timezone", "now"}
_TIME_ZONE = (
    exp.AtTimeZone,
    exp.ConvertTimezone,
    exp.CurrentTimestamp,
    exp.CurrentDate,
    exp.CurrentTime,
    exp.CurrentTimezone,
    exp.Localtimestamp,
)
_APPROXIMATE = (exp.ApproxDistinct, exp.ApproxQuantile, exp.ApproxTopK, exp.Hll)
_APPROXIMATE_FUNCTIONS = {"approx_set", "merge", "empty_approx_set", "approx_most_frequent"}
_REGEX = (
    exp.RegexpLike,
    exp.RegexpILike,
    exp.RegexpExtract,
    exp.RegexpExtractAll,
    exp.RegexpReplace,
    exp.RegexpSplit,
)
_NONDETERMINISTIC = (exp.AnyValue, exp.Rand, exp.Uuid)


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def _show(node: exp.Expression) -> str:
    """The construct as the report's author wrote it (columns without the added qualifiers)."""
    plain = node.transform(
        lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n, copy=True
    )
    return plain.sql(dialect="athena")


def _trino_kind(node: exp.Expression) -> str:
    """``integer``, ``double``, ``decimal`` or ``unknown``, as Trino would type ``node``.

    sqlglot types ``1.5`` as a double; Trino reads it as a decimal, so any decimal literal in an
    operand makes it a decimal (or unknown) for this purpose.
    """
    literals = [n for n in node.find_all(exp.Literal) if not n.is_string]
    if any("." in n.this and "e" not in n.this.lower() for n in literals):
        return "decimal"
    kind = node.type.this if node.type else exp.DataType.Type.UNKNOWN
    if kind in INTEGERS:
        return "integer"
    if kind in FLOATS:
        return "double"
    if kind == exp.DataType.Type.DECIMAL:
        return "decimal"
    return "unknown"


def _division(node: exp.Div) -> str | None:
    left, right = _trino_kind(node.left), _trino_kind(node.right)
    if left == right == "integer":
        return None
    if (
        "double" in (left, right)
        and "decimal" not in (left, right)
        and "unknown"
        not in (
            left,
            right,
        )
    ):
        return None
    return (
        f"{_show(node)}: {left} / {right} divides differently on Trino and "
        "DuckDB; make one side a double (1e0, CAST(x AS double))"
    )


def _function_name(node: exp.Expression) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _findings(expression: exp.Expression) -> Iterator[Finding]:
    for node in expression.walk():
        if isinstance(node, exp.Div) and (problem := _division(node)):
            yield Finding("division", problem)
        elif isinstance(node, exp.DateDiff):
            unit = node.text("unit").lower() or "day"
            if unit not in FIXED_UNITS:
                yield Finding(
                    "date-unit",
                    f"date_diff in {unit}s: month ends count differently; use days or ms",
                )
        elif isinstance(node, _TIME_ZONE) or (
            isinstance(node, exp.Anonymous) and _function_name(node) in _TIME_ZONE_FUNCTIONS
        ):
            yield Finding(
                "time-zone",
                f"{_show(node)} depends on the session's time zone or clock; "
                "pass times as parameters (UTC epoch ms)",
            )
        elif isinstance(node, _APPROXIMATE) or (
            isinstance(node, exp.Anonymous) and _function_name(node) in _APPROXIMATE_FUNCTIONS
        ):
            yield Finding(
                "approximate",
                f"{_show(node)}: the engines approximate with other algorithms; "
                "use exact aggregates (count(DISTINCT ...))",
            )
        elif isinstance(node, _REGEX):
            yield Finding(
                "regex",
                f"{_show(node)}: Trino's and DuckDB's regular expressions "
                "differ; use LIKE, strpos or split_part",
            )
        elif isinstance(node, _NONDETERMINISTIC):
            yield Finding("nondeterministic", f"{_show(node)} is not repeatable")
        elif isinstance(node, exp.Anonymous):
            yield Finding(
                "unknown-function",
                f"{node.name}(): unknown to the transpiler, so DuckDB would get it unchanged",
            )
        elif (
            isinstance(node, exp.Cast)
            and node.to.is_type(*exp.DataType.TEXT_TYPES)
            and _trino_kind(node.this) == "double"
        ):
            yield Finding(
                "float-text",
                f"{_show(node)}: doubles print differently; keep them numbers "
                "or round and cast to bigint first",
            )


def lint(sql: str, relations: Relations) -> list[Finding]:
    """Every finding of ``sql`` against the lake's ``relations`` (empty: portable)."""
    try:
        raw = parse(sql)
    except PipelineError as exc:
        return [Finding("parse", str(exc))]
    findings = [
        Finding("parameter", f":{name} is not a report parameter")
        for name in sorted({p.name for p in raw.find_all(exp.Placeholder)} - PARAMETERS.keys())
    ]
    if not raw.args.get("order"):
        findings.append(Finding("order", "the result needs an ORDER BY (row order differs)"))
    try:
        expression = typed(raw, relations)
    except PipelineError as exc:
        return [*findings, Finding("schema", str(exc))]
    return findings + list(_findings(expression))
