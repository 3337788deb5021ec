"""``pipeline consume`` (local or KCL engine) and ``pipeline kcl`` (doctor, manifest, ...)."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

import click

from consumers.app import local_engine
from consumers.kcl.status import ShardStatus
from pipeline.aws.clients import AwsClients
from pipeline.cli_support import CliContext, domain_errors, gather_options, pass_context
from pipeline.config import Config
from pipeline.core.results import Counters


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
        kcl_only = ("metrics_port", "work_dir", "worker_id", "seed_leases")
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
    type=int,
    help="kcl: serve Prometheus /metrics, /healthz and /status on this port (0: a free one).",
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

    SIGTERM or Ctrl-C checkpoints and stops. With --engine kcl the exit status says how it
    ended: 0 stopped or done, 3 a record processor failed (restart: it replays from the last
    checkpoint), 4 the daemon failed (see its log on stderr).

    Example: pipeline --endpoint-url http://127.0.0.1:4566 consume --engine kcl --metrics-port 9464
    """
    config = ctx.config()
    clients = ctx.clients(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if options.engine == "local":
        status = local_engine(config, clients).run(
            stop=stop,
            until_end_of_stream=options.until_end_of_stream,
            on_progress=lambda s: click.echo(_line(s.counters), err=True),
        )
        click.echo(_line(status.counters))
    else:
        _consume_kcl(config, clients, options, stop)


def _consume_kcl(
    config: Config, clients: AwsClients, options: ConsumeOptions, stop: threading.Event
) -> None:
    """Run a KCL worker; its exit status says how it ended (see ``consume``)."""
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
        on_progress=lambda statuses: click.echo(_kcl_line(statuses), err=True),
    )
    click.echo(_line(result.counters))
    if result.exit_code != ExitCode.OK:
        click.echo(f"Error: {result.reason}", err=True)
        click.get_current_context().exit(int(result.exit_code))


def _line(c: Counters) -> str:
    return (
        f"{c.records} records: {c.events} events, {c.duplicates} duplicates, {c.late} late, "
        f"{c.dead_letters} dead letters, {c.results} window results"
    )


def _kcl_line(statuses: list[ShardStatus]) -> str:
    active = [s for s in statuses if s.state == "processing"]
    behind = max((s.millis_behind_latest for s in active), default=0)
    rate = sum(s.records_per_second for s in active)
    return (
        f"kcl: {len(active)} shards processing, {rate:.0f} records/s, "
        f"{behind} ms behind; " + ", ".join(f"{s.shard_id}={s.state}" for s in statuses)
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
