"""Report output: plain-text tables for terminals, CSV, JSON and Parquet.

Text formats render timestamps as ``YYYY-MM-DD HH:MM:SS.mmm`` (UTC) and nulls as empty (CSV,
tables) or ``null`` (JSON), whichever engine produced the table; Parquet keeps the types.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("table", "csv", "json", "parquet")
#: File extension per format (a "table" written to a file is CSV).
EXTENSIONS = {"table": "csv", "csv": "csv", "json": "json", "parquet": "parquet"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _text(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def csv_text(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow([_text(v) for v in row.values()])
    return out.getvalue()


def json_line(name: str, table: pa.Table) -> str:
    """One JSON object: ``{"report": name, "rows": [{column: value, ...}, ...]}``."""
    rows = [{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()]
    return json.dumps({"report": name, "rows": rows}, separators=(",", ":"))


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def write_csv(path: Path, table: pa.Table) -> None:
    path.write_text(csv_text(table), encoding="utf-8")


def write_file(directory: Path, name: str, table: pa.Table, fmt: str) -> Path:
    """``directory/<name>.<ext>`` in ``fmt`` (a "table" is written as CSV)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.{EXTENSIONS[fmt]}"
    if fmt == "parquet":
        path.write_bytes(parquet_bytes(table))
    elif fmt == "json":
        path.write_text(json_line(name, table) + "\n", encoding="utf-8")
    else:
        write_csv(path, table)
    return path


def format_table(table: pa.Table, limit: int | None = None) -> str:
    """A plain-text table for terminals."""
    rows = table.to_pylist()
    shown = rows if limit is None else rows[:limit]
    cells = [[str(c) for c in table.column_names]] + [[_text(v) for v in r.values()] for r in shown]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.column_names))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if limit is not None and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows")
    return "\n".join(lines)
