"""The shipped reports: ``sql/reports/<name>.sql``, each starting with ``-- <description>``.

A report reads some of the lake's relations; the ones of the other event type do not exist in a
configuration (``unique_users`` needs ``v_window_web_second``), so :func:`available` tells which
reports a lake can answer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

from pipeline.core.errors import PipelineError
from pipeline.reports.portable import parse, relations_read


@dataclass(frozen=True)
class Report:
    name: str
    description: str
    sql: str  # Athena (Trino) dialect, parameters as :name

    @cached_property
    def relations(self) -> frozenset[str]:
        """The tables and views it reads."""
        return frozenset(relations_read(parse(self.sql)))

    def missing(self, relations: Collection[str]) -> list[str]:
        """What it reads that ``relations`` lacks (empty: it can run)."""
        return sorted(self.relations - set(relations))


def reports() -> dict[str, Report]:
    found = {}
    for entry in sorted(resources.files("sql").joinpath("reports").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        text = entry.read_text(encoding="utf-8")
        first = text.splitlines()[0] if text else ""
        description = first[2:].strip() if first.startswith("--") else ""
        name = entry.name[: -len(".sql")]
        found[name] = Report(name, description, text)
    return found


def report(name: str) -> Report:
    available_reports = reports()
    try:
        return available_reports[name]
    except KeyError:
        raise PipelineError(
            f"unknown report {name!r} (available: {', '.join(available_reports)})"
        ) from None


def available(relations: Collection[str]) -> dict[str, Report]:
    """The reports that read only ``relations``."""
    return {name: r for name, r in reports().items() if not r.missing(relations)}
