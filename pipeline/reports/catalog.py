"""The shipped reports: ``sql/reports/<name>.sql``, each starting with ``-- <description>``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from pipeline.errors import PipelineError


@dataclass(frozen=True)
class Report:
    name: str
    description: str
    sql: str  # Athena (Trino) dialect


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
    available = reports()
    try:
        return available[name]
    except KeyError:
        raise PipelineError(
            f"unknown report {name!r} (available: {', '.join(available)})"
        ) from None
