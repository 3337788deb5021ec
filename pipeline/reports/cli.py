"""``pipeline report``: run reports on DuckDB (default) or Athena, print, save, publish, watch."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pyarrow as pa

from pipeline.aws.clients import AwsClients
from pipeline.aws.sqs import Queue
from pipeline.cli_support import (
    INSTANT,
    CliContext,
    above_bar,
    domain_errors,
    gather_options,
    pass_context,
    progress_bar,
)
from pipeline.config import Config
from pipeline.core.errors import PipelineError
from pipeline.lake.ddl import relation_columns, tables_read
from pipeline.lake.layout import s3_deleter
from pipeline.lake.tables import LakeTable, lake_tables
from pipeline.reports.catalog import Report, reports
from pipeline.reports.catalog import report as find_report
from pipeline.reports.lint import lint
from pipeline.reports.output import FORMATS, csv_text, format_table, json_line, write_file
from pipeline.reports.params import PARAMETERS, bind
from pipeline.reports.publish import publish, report_date
from pipeline.reports.runner import run_report
from pipeline.reports.watch import LakeEvents, ensure_notifications

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

#: Parameters with no option of their own
OTHERS = ("band_low", "band_high", "silent_windows")


@dataclass(frozen=True)
class ReportOptions:
    """A ``pipeline report`` command line."""

    names: tuple[str, ...]
    list_only: bool
    sql_files: tuple[str, ...]
    lint_only: bool
    engine: str
    since: int | None
    until: int | None
    site: str | None
    device: str | None
    param: tuple[str, ...]
    fmt: str
    out: str | None
    to: str | None
    watch: bool
    quiet_seconds: float
    max_refreshes: int
    workgroup: str | None
    athena_output: str | None


def _parameters(options: ReportOptions) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if options.since is not None:
        given["since_ms"] = options.since
    if options.until is not None:
        given["until_ms"] = options.until
    if options.site:
        given["site"] = options.site
    if options.device:
        given["device"] = options.device
    for item in options.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise PipelineError(f"--param takes NAME=VALUE, got {item!r}")
        given[name.strip()] = value.strip()
    return bind(given)


def _every_relation(config: Config) -> dict[str, dict[str, str]]:
    """The lake's relations for every event type (shipped reports cover them all)."""
    relations: dict[str, dict[str, str]] = {}
    for name in config.types:
        stream = dataclasses.replace(config.stream, event_type=name)
        relations |= relation_columns(lake_tables(dataclasses.replace(config, stream=stream)))
    return relations


def _user_report(path: str) -> Report:
    text = Path(path).read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    return Report(Path(path).stem, first[2:].strip() if first.startswith("--") else "", text)


def _lint(selected: list[Report], relations: dict[str, dict[str, str]]) -> None:
    failed = 0
    for spec in selected:
        findings = lint(spec.sql, relations)
        failed += bool(findings)
        click.echo(f"{spec.name}: {'ok' if not findings else f'{len(findings)} problem(s)'}")
        for finding in findings:
            click.echo(f"  {finding}")
    if failed:
        raise PipelineError(f"{failed} report(s) would answer differently on Athena and DuckDB")


def _list(relations: set[str]) -> None:
    for spec in reports().values():
        missing = spec.missing(relations)
        note = f"  (needs {', '.join(missing)})" if missing else ""
        click.echo(f"{spec.name:18} {spec.description}{note}")


class _Emitter:
    """Where results go: stdout in a format, files in --out, the reporting bucket (--to)."""

    def __init__(self, fmt: str, out: str | None, to: str | None, publish_to: Callable[..., str]):
        if fmt == "parquet" and not (out or to):
            raise PipelineError("--format parquet writes files: give --out DIR or --to s3://...")
        self.fmt, self.out, self.to, self.publish_to = fmt, out, to, publish_to
        self.bar: ProgressBar[Any] | None = None  # the first run's, on a terminal

    def emit(self, spec: Report, table: pa.Table) -> None:
        if self.out:
            write_file(Path(self.out), spec.name, table, self.fmt)
        if self.to:
            above_bar(self.bar, f"{spec.name}: {self.publish_to(table, spec.name)}", err=True)
        if self.fmt == "table":
            above_bar(self.bar, f"== {spec.name}: {spec.description}\n{format_table(table)}\n")
        elif self.fmt == "csv":
            above_bar(self.bar, f"# {spec.name}\n{csv_text(table)}")
        elif self.fmt == "json":
            above_bar(self.bar, json_line(spec.name, table))
        if self.bar is not None:
            self.bar.update(1)


@click.command("report")
@click.argument("names", nargs=-1)
@click.option("--list", "list_only", is_flag=True, help="List the reports, one line each.")
@click.option(
    "--sql",
    "sql_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Also run this Athena SQL file as a report (it must pass the lint).",
)
@click.option(
    "--lint",
    "lint_only",
    is_flag=True,
    help="Check that the reports answer the same on Athena and DuckDB; run nothing.",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "athena"]),
    default="duckdb",
    help="DuckDB over the lake (local or S3), or Athena through awswrangler.",
)
@click.option(
    "--since",
    type=INSTANT,
    help="Event time from (inclusive): 2026-01-01, ISO time, epoch ms, 2h (ago) or now.",
)
@click.option("--until", type=INSTANT, help="Event time until (exclusive), same forms as --since.")
@click.option("--site", help="Only this site.")
@click.option("--device", help="Only this device.")
@click.option(
    "--param",
    multiple=True,
    help="Another report parameter, NAME=VALUE: "
    + "; ".join(
        f"{p.name}: {p.help} ({p.default})" for p in PARAMETERS.values() if p.name in OTHERS
    ),
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", help="Output format.")
@click.option("--out", type=click.Path(file_okay=False), help="Also write <report>.<ext> here.")
@click.option("--to", help="Publish to the reporting bucket: s3://BUCKET/PREFIX (Parquet).")
@click.option("--watch", is_flag=True, help="Refresh as lake data lands (S3 -> SQS events).")
@click.option("--quiet-seconds", type=float, default=2.0, help="--watch: refresh after this calm.")
@click.option("--max-refreshes", type=int, default=0, help="--watch: stop after N (0: never).")
@click.option("--workgroup", help="Athena workgroup (default: the stack's, names.glue_database).")
@click.option("--athena-output", help="Athena results location, if the workgroup sets none.")
@pass_context
@domain_errors
@gather_options(ReportOptions)
def report(ctx: CliContext, options: ReportOptions) -> None:
    """Run reports (all this lake can answer when no NAME is given) on DuckDB or Athena.

    Example: pipeline report device_summary --since 2026-01-01 --site site-1 --format csv
    """
    config = ctx.config()
    tables = lake_tables(config)
    relations = set(relation_columns(tables))
    if options.list_only:
        _list(relations)
        return
    extra = [_user_report(path) for path in options.sql_files]
    chosen = [find_report(n) for n in options.names] + extra
    if options.lint_only:
        _lint(chosen or list(reports().values()), _every_relation(config))
        return
    for spec in extra:
        findings = lint(spec.sql, relation_columns(tables))
        if findings:
            raise PipelineError(f"{spec.name}: " + "; ".join(map(str, findings)))
    selected = chosen or [r for r in reports().values() if not r.missing(relations)]
    _run(config, ctx.clients(config), tables, selected, options)


@dataclass(frozen=True)
class _Runner:
    """The chosen reports with their parameter values, on one session, into one emitter."""

    session: Any
    selected: list[Report]
    tables: dict[str, LakeTable]
    values: dict[str, Any]
    emitter: _Emitter

    def run(self, changed: set[str] | None = None) -> None:
        """Run every report, or (``changed``) those that read one of these tables."""
        for spec in self.selected:
            if changed is None or tables_read(spec.relations, self.tables) & changed:
                self.emitter.emit(spec, run_report(self.session, spec, self.tables, self.values))


def _run(
    config: Config,
    clients: AwsClients,
    tables: dict[str, LakeTable],
    selected: list[Report],
    options: ReportOptions,
) -> None:
    """Run the reports once, then (``--watch``) again as the lake's tables change."""
    values = _parameters(options)
    emitter = _emitter(options, clients, values)
    session = _session(options, config, clients, tables)
    queue = None
    if options.watch:  # before the first run: nothing that lands after it goes unnoticed
        queue = ensure_notifications(
            clients.client("sqs"), clients.s3, config.names.bucket, config.names.lake_events_queue
        )
    with session:
        runner = _Runner(session, selected, tables, values, emitter)
        with progress_bar(len(selected), "reports") as emitter.bar:
            runner.run()
        emitter.bar = None
        if queue is None:
            return
        events = LakeEvents(
            Queue(clients.client("sqs"), queue),
            config.names.bucket,
            {t.name for t in tables.values()},
            quiet_s=options.quiet_seconds,
        )
        click.echo(f"watching s3://{config.names.bucket} through {queue}", err=True)
        try:
            with events:
                _watch(events, runner, options.max_refreshes)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


def _emitter(options: ReportOptions, clients: AwsClients, values: dict[str, Any]) -> _Emitter:
    """Where results go; published results are dated by --since (else today)."""
    date = report_date(
        values["since_ms"] if options.since is not None else None, round(time.time() * 1000)
    )
    filesystem = clients.arrow_s3_filesystem() if options.to else None

    def publish_to(table: pa.Table, name: str) -> str:
        return publish(table, filesystem, options.to or "", name, date, s3_deleter(clients.s3))

    return _Emitter(options.fmt, options.out, options.to, publish_to)


def _session(
    options: ReportOptions, config: Config, clients: AwsClients, tables: dict[str, LakeTable]
) -> Any:
    """An Athena session, or DuckDB over the lake."""
    if options.engine == "athena":
        from pipeline.reports.athena import AthenaSession

        return AthenaSession(config, clients, options.workgroup, options.athena_output)
    from pipeline.reports.duck import LakeSession

    return LakeSession.on_bucket(tables, clients, config.names.bucket)


def _watch(events: LakeEvents, runner: _Runner, max_refreshes: int) -> None:
    """Re-run the reports that read the tables each group of S3 events touched."""
    for refreshes, changes in enumerate(events.changes(threading.Event()), start=1):
        refresh = getattr(runner.session, "refresh", None)  # DuckDB: list the objects again
        if refresh:
            refresh()
        runner.run(changes.tables)
        events.ack(changes)
        click.echo(f"refreshed after new data in {sorted(changes.tables)}", err=True)
        if max_refreshes and refreshes >= max_refreshes:
            return
