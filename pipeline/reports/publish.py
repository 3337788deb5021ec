"""The reporting bucket: each report's result as Parquet, partitioned by report date.

``s3://BUCKET/PREFIX`` receives ``PREFIX/<report>/report_date=YYYY-MM-DD/part-00000.parquet``
(Hive style, readable by Athena, Glue crawlers and QuickSight as the seed's reporting bucket
is). The report date is the day (UTC) the report's time range starts, or the day it ran when the
range is open. A re-run of the same period replaces the object, in one PUT (readers see the old
result or the new one), and then removes any other object of that partition: re-running is
idempotent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from pipeline.core.errors import PipelineError
from pipeline.lake.layout import Deleter, filesystem_deleter

log = logging.getLogger(__name__)

PART = "part-00000.parquet"


def parse_location(url: str) -> str:
    """``s3://BUCKET/PREFIX`` -> ``BUCKET/PREFIX`` (the pyarrow S3 path), validated."""
    if not url.startswith("s3://") or len(url) <= len("s3://"):
        raise PipelineError(f"--to needs s3://BUCKET[/PREFIX], got {url!r}")
    return url[len("s3://") :].strip("/")


def report_date(since_ms: int | None, now_ms: int) -> str:
    """The partition of a report run: the range's first day, or the day it ran."""
    moment = since_ms if since_ms is not None else now_ms
    return datetime.fromtimestamp(moment / 1000, tz=UTC).strftime("%Y-%m-%d")


def publish(
    table: pa.Table,
    filesystem: fs.FileSystem,
    url: str,
    report: str,
    date: str,
    delete: Deleter | None = None,
) -> str:
    """Write ``table`` as the report's result for ``date``; returns its ``s3://`` URL.

    ``delete`` removes stale objects (on S3: :func:`~pipeline.lake.layout.s3_deleter`)."""
    partition = f"{parse_location(url)}/{report}/report_date={date}"
    path = f"{partition}/{PART}"
    try:
        pq.write_table(table, path, filesystem=filesystem, compression="snappy")
        stale = [
            f.path
            for f in filesystem.get_file_info(fs.FileSelector(partition, allow_not_found=True))
            if f.type == fs.FileType.File and f.path != path
        ]
        if stale:
            (delete or filesystem_deleter(filesystem))(stale)
    except OSError as exc:
        raise PipelineError(f"cannot write {report} to s3://{partition}/: {exc}") from exc
    log.info("report published", extra={"report": report, "path": path, "rows": table.num_rows})
    return f"s3://{path}"
