"""The ``pipeline`` command.

Every option can also be given as an environment variable, ``PIPELINE_<COMMAND>_<OPTION>`` (for
example ``PIPELINE_DEMO_DEVICES=100``); ``--help`` of each command names them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from consumers.cli import consume, kcl_group
from pipeline import logs
from pipeline.cli_support import CliContext, domain_errors, pass_context
from pipeline.deploy.cli import template
from pipeline.planner.cli import plan
from producers.chaos import ChaosOptions
from producers.cli import produce_group, source_options
from producers.run import ProduceOptions


@click.group(context_settings={"auto_envvar_prefix": "PIPELINE", "show_default": True})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="PIPELINE_CONFIG",
    help="TOML configuration file (defaults: pipeline/defaults.toml).",
)
@click.option(
    "--endpoint-url",
    envvar="PIPELINE_AWS_ENDPOINT_URL",
    help="AWS endpoint (the emulator's URL); empty: real AWS.",
)
@click.option("--log-level", default="WARNING", help="Log level of the JSON logs on stderr.")
@click.version_option(package_name="kinesis-pipeline")
@click.pass_context
def main(
    ctx: click.Context, config_path: str | None, endpoint_url: str | None, log_level: str
) -> None:
    """Streaming analytics on AWS: produce, consume, report; locally on an embedded emulator."""
    logs.configure(log_level)
    ctx.obj = CliContext(config_path, endpoint_url)


main.add_command(produce_group, "produce")
main.add_command(consume)
main.add_command(kcl_group)
main.add_command(plan)
main.add_command(template)


@main.command()
@click.option("--host", default="127.0.0.1", help="Interface to listen on.")
@click.option("--port", type=int, default=4566, help="Port (HTTP/1.1 and cleartext HTTP/2).")
def emulator(host: str, port: int) -> None:
    """Serve the embedded AWS emulator in the foreground (Ctrl-C stops it).

    Example: pipeline emulator --port 4566 & pipeline --endpoint-url http://127.0.0.1:4566 provision
    """
    from pipeline.emulator import serve

    click.echo(
        f"AWS emulator on http://{host}:{port} (Kinesis, DynamoDB, S3, Firehose, Glue)", err=True
    )
    serve(host, port)


@main.command()
@pass_context
@domain_errors
def provision(ctx: CliContext) -> None:
    """Create the stream, tables, buckets, Glue tables and Firehose streams (idempotent).

    Example: pipeline --endpoint-url http://127.0.0.1:4566 provision
    """
    from pipeline.aws.provision import Provisioner

    config = ctx.config()
    report = Provisioner(config, ctx.clients(config)).run()
    for what in report.created:
        click.echo(f"created  {what}")
    for what in report.existing:
        click.echo(f"exists   {what}")


@main.command()
@click.argument("names", nargs=-1)
@click.option("--list", "list_only", is_flag=True, help="List the reports, one line each.")
@click.option("--out", type=click.Path(file_okay=False), help="Also write <report>.csv files here.")
@pass_context
@domain_errors
def report(ctx: CliContext, names: tuple[str, ...], list_only: bool, out: str | None) -> None:
    """Run reports (all when no NAME is given) with DuckDB over the lake.

    Example: pipeline --endpoint-url http://127.0.0.1:4566 report device_summary --out reports/
    """
    from pipeline.lake.tables import lake_tables
    from pipeline.reports.catalog import report as find_report
    from pipeline.reports.catalog import reports
    from pipeline.reports.duck import LakeSession
    from pipeline.reports.output import format_table, write_csv

    if list_only:
        for spec in reports().values():
            click.echo(f"{spec.name:24} {spec.description}")
        return
    selected = [find_report(n) for n in names] if names else list(reports().values())
    config = ctx.config()
    clients = ctx.clients(config)
    with LakeSession(
        lake_tables(config), clients.arrow_s3_filesystem(), config.names.bucket
    ) as session:
        for spec in selected:
            result = session.query(spec.sql)
            click.echo(f"== {spec.name}: {spec.description}\n{format_table(result)}\n")
            if out:
                Path(out).mkdir(parents=True, exist_ok=True)
                write_csv(Path(out) / f"{spec.name}.csv", result)


@main.command()
@click.option(
    "--out", type=click.Path(file_okay=False), help="Write one <table>.sql per table here."
)
@pass_context
@domain_errors
def ddl(ctx: CliContext, out: str | None) -> None:
    """Print (or write) the Athena DDL of the lake's tables and dedupe views.

    Example: pipeline ddl --out sql/ddl
    """
    from pipeline.lake.ddl import ddl_files
    from pipeline.lake.tables import lake_tables

    config = ctx.config()
    files = ddl_files(lake_tables(config), config.names.bucket)
    for name, text in files.items():
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / name).write_text(text, encoding="utf-8")
        else:
            click.echo(text)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@source_options(duplicates=0.02)
@click.option(
    "--engine",
    type=click.Choice(["local", "kcl"]),
    default="local",
    help="Consumer engine: local poller, or the real KCL MultiLangDaemon (needs Java).",
)
@pass_context
@domain_errors
def demo(
    ctx: CliContext,
    out: str,
    devices: int,
    minutes: float,
    seed: int,
    duplicates: float,
    engine: str,
) -> None:
    """Run the whole pipeline end to end on an embedded emulator and keep every output.

    Example: pipeline demo --out demo-out --devices 50 --minutes 10 --seed 7 --duplicates 0.02
    """
    from pipeline.demo import run_demo
    from pipeline.emulator import EmbeddedEmulator

    options = ProduceOptions(
        devices=devices, minutes=minutes, seed=seed, chaos=ChaosOptions(duplicates=duplicates)
    )
    with EmbeddedEmulator() as emulator_:
        config = ctx.config().with_endpoint(emulator_.endpoint_url)
        summary = run_demo(
            config, Path(out), options, say=lambda line: click.echo(line, err=True), engine=engine
        )
    c = summary.counters
    click.echo(
        f"\nDemo done: {summary.records_sent} records sent; {c.events} events kept, "
        f"{c.duplicates} duplicates dropped, {c.late} late, {c.dead_letters} dead letters; "
        f"{summary.results_items} window results in DynamoDB; lake rows "
        + ", ".join(f"{k}={v}" for k, v in summary.lake_rows.items())
        + f"; {len(summary.reports)} reports in {out}/reports"
    )


@main.command()
@click.option("--events", type=int, default=20_000, help="About how many events to produce.")
@click.option("--kills", type=int, default=5, help="How many times to SIGKILL the consumer.")
@click.option("--seed", type=int, default=1, help="Seed of all randomness: a failing run replays.")
@click.option("--engine", type=click.Choice(["local"]), default="local", help="Consumer engine.")
@click.option("--shards", type=int, default=2, help="Shards at the start.")
@click.option("--reshard/--no-reshard", default=True, help="Split and merge shards mid-run.")
@click.option("--keep", type=click.Path(file_okay=False), help="Keep logs and truth here.")
@domain_errors
def chaos(
    events: int, kills: int, seed: int, engine: str, shards: int, reshard: bool, keep: str | None
) -> None:
    """Run the pipeline under faults, consumer kills and resharding; check nothing is lost.

    Exits 1 unless the verdict shows 0 mismatches and 0 lost.

    Example: pipeline chaos --events 200000 --kills 20 --seed 7
    """
    from pipeline.harness.chaos import ChaosOptions, run_chaos

    options = ChaosOptions(
        events=events, kills=kills, seed=seed, engine=engine, shards=shards, reshard=reshard
    )
    say = lambda line: click.echo(line, err=True)  # noqa: E731
    report = run_chaos(options, say=say, keep=Path(keep) if keep else None)
    click.echo(report.table())
    for detail in report.verdict.details:
        click.echo(f"  ! {detail}", err=True)
    if not report.ok:
        raise click.ClickException(f"chaos run with seed {seed} failed: see the verdict above")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
