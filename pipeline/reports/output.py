"""Report output: plain-text tables for terminals, CSV files."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa


def write_csv(path: Path, table: pa.Table) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(table.column_names)
        for row in table.to_pylist():
            writer.writerow(["" if v is None else v for v in row.values()])


def format_table(table: pa.Table, limit: int | None = None) -> str:
    """A plain-text table for terminals."""
    rows = table.to_pylist()
    shown = rows if limit is None else rows[:limit]
    cells = [[str(c) for c in table.column_names]] + [
        ["" if v is None else str(v) for v in r.values()] for r in shown
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.column_names))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if limit is not None and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows")
    return "\n".join(lines)
