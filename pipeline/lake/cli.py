"""``pipeline compact``: rewrite the lake's small Firehose objects into few large sorted ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import click

from pipeline.aws.s3 import listed_filesystem
from pipeline.cli_support import (
    INSTANT,
    CliContext,
    above_bar,
    domain_errors,
    gather_options,
    pass_context,
    progress_bar,
)
from pipeline.core.errors import PipelineError
from pipeline.lake.compaction import Compactor
from pipeline.lake.layout import s3_deleter
from pipeline.lake.tables import lake_tables

MIB = 1024 * 1024


@dataclass(frozen=True)
class CompactOptions:
    """A ``pipeline compact`` command line (no tables: all of them)."""

    tables: tuple[str, ...]
    since: int | None
    until: int | None
    min_files: int
    target_mib: int
    dry_run: bool


@click.command("compact")
@click.argument("tables", nargs=-1)
@click.option(
    "--since", type=INSTANT, help="First arrival day (dt) to compact: YYYY-MM-DD, or its instant."
)
@click.option(
    "--until", type=INSTANT, help="Last arrival day (dt) to compact: YYYY-MM-DD, or its instant."
)
@click.option("--min-files", type=int, default=2, help="Compact partitions with this many objects.")
@click.option("--target-mib", type=int, default=128, help="About this much data per output file.")
@click.option("--dry-run", is_flag=True, help="List the partitions that would be compacted.")
@pass_context
@domain_errors
@gather_options(CompactOptions)
def compact(ctx: CliContext, options: CompactOptions) -> None:
    """Compact lake partitions (all tables when no TABLE is given): dedupe, sort, few files.

    Readers through the v_* views see each partition before or after, never in between.

    Example: pipeline compact events_iot --since 2026-01-01 --min-files 10
    """
    config = ctx.config()
    by_name = {t.name: t for t in lake_tables(config).values()}
    unknown = sorted(set(options.tables) - set(by_name))
    if unknown:
        raise PipelineError(f"unknown lake table(s) {unknown} (tables: {sorted(by_name)})")
    clients = ctx.clients(config)
    compactor = Compactor(
        listed_filesystem(clients, config.names.bucket),
        config.names.bucket,
        target_bytes=options.target_mib * MIB,
        min_files=options.min_files,
        delete=s3_deleter(clients.s3),
    )
    chosen = [
        (name, partition, files)
        for name in options.tables or sorted(by_name)
        for partition, files in compactor.partitions(
            by_name[name], _day(options.since), _day(options.until)
        )
    ]
    with progress_bar(len(chosen), "compacting", enabled=not options.dry_run) as bar:
        for name, partition, files in chosen:
            where = f"{name} dt={partition.dt} hour={partition.hour}"
            if options.dry_run:
                above_bar(bar, f"{where}: {len(files)} files")
                continue
            r = compactor.compact(by_name[name], partition, files)
            bar.update(1)
            above_bar(
                bar,
                f"{where}: {r.files_before} files -> {r.files_after}, {r.rows_before} rows -> "
                f"{r.rows_after} ({r.duplicates_removed} duplicates), "
                f"{r.bytes_before / MIB:.2f} MiB -> {r.bytes_after / MIB:.2f} MiB",
            )
    done = "to compact" if options.dry_run else "compacted"
    click.echo(f"{len(chosen)} partitions {done}", err=True)


def _day(ms: int | None) -> str:
    """The arrival day (``dt``) of an instant; "" for no bound."""
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")
