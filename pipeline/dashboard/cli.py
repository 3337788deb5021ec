"""``pipeline dashboard``: render the reports' charts as one static HTML file."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from pipeline.cli_support import (
    INSTANT,
    CliContext,
    domain_errors,
    gather_options,
    pass_context,
    progress_bar,
)
from pipeline.dashboard.render import collect, plan, render_html, write_dashboard
from pipeline.lake.tables import lake_tables
from pipeline.reports.params import bind


@dataclass(frozen=True)
class DashboardOptions:
    """A ``pipeline dashboard`` command line."""

    out: str
    since: int | None
    until: int | None
    engine: str
    title: str


@click.command("dashboard")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option(
    "--since",
    type=INSTANT,
    help="Event time from (inclusive): 2026-01-01, ISO time, epoch ms, 2h (ago) or now.",
)
@click.option("--until", type=INSTANT, help="Event time until (exclusive), same forms as --since.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "athena"]),
    default="duckdb",
    help="Run the reports on DuckDB over the lake, or on Athena.",
)
@click.option("--title", default="kinesis-pipeline", help="The page's title.")
@pass_context
@domain_errors
@gather_options(DashboardOptions)
def dashboard(ctx: CliContext, options: DashboardOptions) -> None:
    """Render an HTML dashboard (a static file, no server, nothing fetched when viewed).

    Example: pipeline --endpoint-url http://127.0.0.1:4566 dashboard --out dashboard/
    """
    config = ctx.config()
    clients = ctx.clients(config)
    tables = lake_tables(config)
    now_ms = round(time.time() * 1000)
    given: dict[str, Any] = {}
    if options.since is not None:
        given["since_ms"] = options.since
    if options.until is not None:
        given["until_ms"] = options.until
    if options.engine == "athena":
        from pipeline.reports.athena import AthenaSession

        session: Any = AthenaSession(config, clients)
    else:
        from pipeline.reports.duck import LakeSession

        session = LakeSession.on_bucket(tables, clients, config.names.bucket)
    planned = len(plan(config.stream_jobs)[1])
    with session, progress_bar(planned, "dashboard") as bar:
        data = collect(_Counted(session, bar.update), tables, bind(given), config.stream_jobs)
    page = render_html(data, options.title, datetime.fromtimestamp(now_ms / 1000, tz=UTC))
    path = write_dashboard(Path(options.out), page)
    drawn = sum(1 for c in data["charts"] if c["has_data"])
    click.echo(f"{path} ({drawn} of {len(data['charts'])} charts with data)")


class _Counted:
    """An engine that counts its queries (one per report) into the bar."""

    def __init__(self, engine: Any, step: Callable[[int], None]) -> None:
        self._engine = engine
        self._step = step

    def query(self, sql: Any, parameters: Any = None) -> Any:
        result = self._engine.query(sql, parameters)
        self._step(1)
        return result
