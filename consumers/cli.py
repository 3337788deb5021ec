"""``pipeline consume`` (local or KCL engine) and ``pipeline kcl`` (doctor, manifest, ...)."""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass
from typing import Any

import click

from consumers.app import bounded, local_engine
from consumers.kcl.status import ShardStatus
from consumers.metrics import ShardEmf, local_metrics_server
from pipeline.aws.clients import AwsClients
from pipeline.cli_support import (
    CliContext,
    domain_errors,
    gather_options,
    pass_context,
    progress_bar,
)
from pipeline.config import Config
from pipeline.core.results import Counters
from pipeline.metrics import EmfWriter


@dataclass(frozen=True)
class ConsumeOptions:
    """A ``pipeline consume`` command line; the KCL's own options need ``--engine kcl``."""

    engine: str
    until_end_of_stream: bool
    metrics_port: int | None
    work_dir: str | None
    worker_id: str | None
    seed_leases: bool

    def __post_init__(self) -> None:
        if self.engine != "local":
            return
        kcl_only = ("work_dir", "worker_id", "seed_leases")
        given = [name for name in kcl_only if getattr(self, name) not in (None, False)]
        if given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} needs --engine kcl")


@click.command("consume")
@click.option(
    "--engine",
    type=click.Choice(["local", "kcl"]),
    default="local",
    show_default=True,
    help="local: one process polls every shard (one machine). kcl: the KCL MultiLangDaemon "
    "(Java): leases, balancing and failover across any number of workers.",
)
@click.option(
    "--until-end-of-stream",
    is_flag=True,
    help="Stop once every shard has reached the producer's end-of-stream marker (or its end).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65_535),
    help="Serve Prometheus /metrics (per shard), /healthz and /status on this port "
    "(0: a free one, printed on stderr).",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False),
    help="kcl: keep the daemon's properties, configuration and status files here "
    "(default: a temporary folder, removed at exit).",
)
@click.option("--worker-id", help="kcl: this worker's id in the lease table (default: random).")
@click.option(
    "--seed-leases",
    is_flag=True,
    help="kcl: on a fresh application, create the lease table with one lease per shard "
    "(saves the KCL's random 1-30 s wait before its first shard sync).",
)
@pass_context
@domain_errors
@gather_options(ConsumeOptions)
def consume(ctx: CliContext, options: ConsumeOptions) -> None:
    """Consume the stream: dedupe, window, write results and the lake.

    SIGTERM or Ctrl-C checkpoints and stops. On a terminal, a bar shows the shards read to
    their end and the lag of the furthest behind. With --engine kcl the exit status says how it
    ended: 0 stopped or done, 3 a record processor failed (restart: it replays from the last
    checkpoint), 4 the daemon failed (see its log on stderr).

    Example: pipeline --endpoint-url http://127.0.0.1:4566 consume --engine kcl --metrics-port 9464
    """
    config = ctx.config()
    if options.until_end_of_stream:  # a bounded run: its end-of-stream markers count
        config = bounded(config)
    clients = ctx.clients(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with ShardWatch(config) as watch:
        run = _consume_kcl if options.engine == "kcl" else _consume_local
        counters, exit_code, reason = run(config, clients, options, stop, watch)
    click.echo(_line(counters))
    if exit_code:
        click.echo(f"Error: {reason}", err=True)
        click.get_current_context().exit(exit_code)


def _consume_local(
    config: Config,
    clients: AwsClients,
    options: ConsumeOptions,
    stop: threading.Event,
    watch: ShardWatch,
) -> tuple[Counters, int, str]:
    """Run the local engine (and its metrics server); it ends well or raises."""
    engine = local_engine(config, clients)
    with contextlib.ExitStack() as stack:
        if options.metrics_port is not None:
            server = stack.enter_context(
                local_metrics_server(engine.statuses, options.metrics_port)
            )
            click.echo(f"metrics: http://0.0.0.0:{server.port}/metrics", err=True)
        status = engine.run(
            stop=stop,
            until_end_of_stream=options.until_end_of_stream,
            on_progress=lambda _: watch(engine.statuses()),
            progress_interval_s=1.0,
        )
    watch(engine.statuses(), final=True)
    return status.counters, 0, ""


class ShardWatch:
    """What a consumer shows and logs while it runs: on a terminal, a bar of the shards read
    to their end (of those known) with the total rate and the lag of the furthest-behind
    shards; with ``metrics.emf``, CloudWatch EMF lines of every shard on stderr."""

    def __init__(self, config: Config, label: str = "consuming") -> None:
        self._bar = progress_bar(1, label, show_eta=False, item_show_func=_lags)
        metrics = config.metrics
        self._emf = (
            ShardEmf(
                EmfWriter(metrics.emf_namespace, metrics.emf_interval_s),
                config.consumer.application,
            )
            if metrics.emf
            else None
        )

    def __enter__(self) -> ShardWatch:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def __call__(self, statuses: list[ShardStatus], final: bool = False) -> None:
        """Show ``statuses``; log them as EMF when due (``final``: the last ones, always)."""
        done = sum(s.state == "ended" or s.end_of_stream for s in statuses)
        self._bar.length = max(1, len(statuses))
        self._bar.current_item = statuses
        self._bar.update(max(0, done - self._bar.pos))
        self._bar.render_progress()  # the lags change even when no shard ends
        if self._emf is not None and (final or self._emf.writer.due()):
            self._emf.emit(statuses)


def _lags(statuses: list[ShardStatus] | None, shown: int = 3) -> str:
    """``12,345 records, 850/s; behind: 3 2.5s, 0 0.1s +2`` (shards by their number)."""
    if not statuses:
        return ""
    records = sum(s.records for s in statuses)
    rate = sum(s.records_per_second for s in statuses)
    worst = sorted(statuses, key=lambda s: -s.millis_behind_latest)
    behind = ", ".join(
        f"{s.shard_id.removeprefix('shardId-').lstrip('0') or '0'} "
        f"{s.millis_behind_latest / 1000:.1f}s"
        for s in worst[:shown]
    )
    more = f" +{len(worst) - shown}" if len(worst) > shown else ""
    return f"{records:,} records, {rate:,.0f}/s; behind: {behind}{more}"


def _consume_kcl(
    config: Config,
    clients: AwsClients,
    options: ConsumeOptions,
    stop: threading.Event,
    watch: ShardWatch,
) -> tuple[Counters, int, str]:
    """Run a KCL worker: its counters, exit status and why (see ``consume``)."""
    from consumers.kcl.daemon import ExitCode, KclDaemon

    daemon = KclDaemon(
        config,
        clients,
        work_dir=options.work_dir,
        worker_id=options.worker_id,
        seed_leases=options.seed_leases,
    )
    result = daemon.run(
        stop=stop,
        until_end_of_stream=options.until_end_of_stream,
        metrics_port=options.metrics_port,
        on_progress=watch,
        progress_interval_s=1.0,
    )
    watch(result.statuses, final=True)
    failed = result.exit_code != ExitCode.OK
    return result.counters, int(result.exit_code), result.reason if failed else ""


def _line(c: Counters) -> str:
    return (
        f"{c.records} records: {c.events} events, {c.duplicates} duplicates, {c.late} late, "
        f"{c.dead_letters} dead letters, {c.results} window results"
    )


@click.group("kcl")
def kcl_group() -> None:
    """Operate the KCL engine: check its setup, pin its jars, show its properties."""


@kcl_group.command("doctor")
@pass_context
@domain_errors
def doctor(ctx: CliContext) -> None:
    """Check Java, the KCL version and jars (SHA-256), settings, credentials and resources.

    Credentials are proven with STS; the stream, the lease and results tables, the delivery
    streams and the buckets each get one harmless call. Prints one line per check (ok, warn,
    FAIL); exits 1 if anything FAILs.

    Example: pipeline --endpoint-url http://127.0.0.1:4566 kcl doctor
    """
    from consumers.kcl.doctor import run_checks

    config = ctx.config()
    checks = run_checks(config, ctx.clients(config))
    for check in checks:
        click.echo(str(check))
    failed = sum(check.level == "FAIL" for check in checks)
    if failed:
        raise click.ClickException(f"{failed} problem(s): the KCL engine would not run correctly")


@kcl_group.command("manifest")
@click.option(
    "--jar-dir",
    type=click.Path(file_okay=False, exists=True),
    help="Jar folder (default: kcl.jar_dir, else the installed amazon_kclpy's jars).",
)
@pass_context
@domain_errors
def manifest(ctx: CliContext, jar_dir: str | None) -> None:
    """Print the SHA-256 manifest of a jar set (to pin a connected install's jars).

    Example: pipeline kcl manifest > kcl.sha256   # then set kcl.jar_manifest = "kcl.sha256"
    """
    from pathlib import Path

    from consumers.kcl.jars import hash_jars, jar_directory, render_manifest

    directory = Path(jar_dir) if jar_dir else jar_directory(ctx.config().kcl.jar_dir)
    click.echo(render_manifest(hash_jars(directory)), nl=False)


@kcl_group.command("properties")
@click.option("--worker-id", help="Worker id to write into the properties (default: none).")
@pass_context
@domain_errors
def properties(ctx: CliContext, worker_id: str | None) -> None:
    """Print the MultiLangDaemon properties the KCL engine would run with.

    Example: pipeline --endpoint-url http://127.0.0.1:4566 kcl properties > app.properties
    """
    from consumers.kcl.properties import child_command, daemon_properties, render_properties

    config = ctx.config()
    click.echo(render_properties(daemon_properties(config, child_command(), worker_id)), nl=False)
