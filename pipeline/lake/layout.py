"""Where a lake table's objects are: its folder under the bucket (or a local root) and its data
objects, the same listing for readers (:mod:`pipeline.reports.duck`) and compaction."""

from __future__ import annotations

from pyarrow import fs

from pipeline.lake.tables import LakeTable


def table_base(table: LakeTable, root: str) -> str:
    """``root/<table>`` (``root`` is ``bucket`` for S3 or a folder for local disk)."""
    return f"{root.rstrip('/')}/{table.location.rstrip('/')}"


def data_files(filesystem: fs.FileSystem, base: str) -> list[fs.FileInfo]:
    """The Parquet objects under ``base`` (names starting with ``_`` or ``.`` are not data)."""
    selector = fs.FileSelector(base, recursive=True, allow_not_found=True)
    return [
        f
        for f in filesystem.get_file_info(selector)
        if f.type == fs.FileType.File and not f.base_name.startswith(("_", "."))
    ]
