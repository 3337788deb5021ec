"""Filter conditions of metrics: ``count_distinct(cognitoId) if os = 'Android'``.

A condition is ``field op literal`` terms joined by ``and``; ``op`` is one of ``= != < <= > >=``
or ``in (literal, ...)``; a literal is a single-quoted string or a number. It compiles to an Arrow
mask over a batch; a null field never matches (as in SQL).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import ConfigError
from pipeline.core.events.schema import EventType

_TERM = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|!=|<=|>=|<|>|in)\s*(\(.*\)|'[^']*'|-?\d+(?:\.\d+)?)\s*$",
    re.IGNORECASE,
)
_LITERAL = re.compile(r"\s*('[^']*'|-?\d+(?:\.\d+)?)\s*(?:,|$)")
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Condition:
    text: str
    terms: tuple[Term, ...]

    def mask(self, table: pa.Table) -> pa.Array:
        result = None
        for term in self.terms:
            column = table.column(term.field)
            if term.op == "in":
                matched = pc.is_in(column, value_set=pa.array(term.values))
            else:
                matched = _COMPARE[term.op](column, term.values[0])
            matched = pc.fill_null(matched, False)
            result = matched if result is None else pc.and_(result, matched)
        return result


def parse_condition(text: str, etype: EventType, where: str) -> Condition:
    terms = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _TERM.match(part)
        if not match:
            raise ConfigError(f"{where}: cannot read condition {part!r} (e.g. os = 'Android')")
        field, op, literal = match.group(1), match.group(2).lower(), match.group(3)
        if field not in etype.fields:
            raise ConfigError(f"{where}: unknown field {field!r} in condition")
        if not etype.usable_in_jobs(field):
            raise ConfigError(f"{where}: {field!r} is an ISO-8601 time; filter by window instead")
        is_string = etype.arrow_schema.field(field).type == pa.string()
        if op == "in":
            inner = literal[1:-1]
            values = tuple(_literal(m.group(1)) for m in _LITERAL.finditer(inner) if m.group(1))
            if not values:
                raise ConfigError(f"{where}: empty list in condition {part!r}")
        else:
            values = (_literal(literal),)
        if any(isinstance(v, str) != is_string for v in values):
            kind = "string" if is_string else "number"
            raise ConfigError(f"{where}: {field!r} is compared with a non-{kind} in {part!r}")
        terms.append(Term(field, op, values))
    return Condition(text.strip(), tuple(terms))


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1]
    return float(text) if "." in text else int(text)
