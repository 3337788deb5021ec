"""Where a lake table's objects are: its folder under the bucket (or a local root) and its data
objects, the same listing for readers (:mod:`pipeline.reports.duck`) and compaction; and how
objects are deleted (compaction, the reporting bucket)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyarrow import fs

from pipeline.aws.s3 import delete_keys
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


Deleter = Callable[[list[str]], None]


def s3_deleter(s3: Any) -> Deleter:
    """Deletes ``bucket/key`` paths with DeleteObjects. pyarrow's own ``delete_file`` leaves an
    empty ``dir/`` marker object behind when it empties a "directory": not wanted in a lake or a
    reporting bucket."""

    def delete(paths: list[str]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for path in paths:
            bucket, _, key = path.partition("/")
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            delete_keys(s3, bucket, keys)

    return delete


def filesystem_deleter(filesystem: fs.FileSystem) -> Deleter:
    """Deletes paths one by one through ``filesystem`` (local disk)."""

    def delete(paths: list[str]) -> None:
        for path in paths:
            filesystem.delete_file(path)

    return delete
