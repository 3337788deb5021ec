"""The ``pipeline`` command.

Every option can also be given as an environment variable, ``PIPELINE_<COMMAND>_<OPTION>`` (for
example ``PIPELINE_DEMO_DEVICES=100``, ``PIPELINE_KCL_PROPERTIES_WORKER_ID=w1``); settings are
``PIPELINE_<SECTION>_<KEY>`` (``pipeline config show`` lists them with their sources), and the
configuration is told the options' names so that the two never collide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consumers.cli import consume, kcl_group
from pipeline import logs
from pipeline.alerts.cli import alerts_group
from pipeline.cli_support import (
    CliContext,
    domain_errors,
    gather_options,
    option_variables,
    pass_context,
)
from pipeline.config import TABLES, Config, setting_keys
from pipeline.dashboard.cli import dashboard
from pipeline.deploy.cli import template
from pipeline.lake.cli import compact
from pipeline.planner.cli import plan
from pipeline.reports.cli import report
from producers.cli import (
    CHAOS_PARAMETERS,
    declared_settings,
    produce_group,
    source_options,
    source_run,
)
from producers.file_source import FileSource
from producers.run import ProduceOptions

if TYPE_CHECKING:  # the harness imports the emulator: only ``pipeline chaos`` loads it
    from pipeline.harness.chaos import ChaosOptions


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
    variables = frozenset(option_variables(ctx.find_root().command))
    ctx.obj = CliContext(config_path, endpoint_url, variables)


main.add_command(produce_group, "produce")
main.add_command(consume)
main.add_command(kcl_group)
main.add_command(plan)
main.add_command(template)
main.add_command(report)
main.add_command(compact)
main.add_command(dashboard)
main.add_command(alerts_group)


@main.group("config")
def config_group() -> None:
    """Inspect the configuration: defaults, then --config's file, then PIPELINE_* variables.

    Example: PIPELINE_STREAM_SHARDS=4 pipeline --config my.toml config show stream
    """


@config_group.command("show")
@click.argument(
    "sections",
    nargs=-1,
    type=click.Choice(sorted({s for s, _ in setting_keys()} | set(TABLES))),
)
@pass_context
@domain_errors
def config_show(ctx: CliContext, sections: tuple[str, ...]) -> None:
    """Print the effective configuration as TOML, each value with its source.

    A source is `default`, `file PATH`, `env PIPELINE_<SECTION>_<KEY>` or `option
    --endpoint-url`. Values of keys named like secrets are masked, and so are URL passwords.

    Example: pipeline --config examples/aws.toml config show firehose stream
    """
    from pipeline.config_view import render

    config, sources = ctx.effective_config()
    click.echo(render(config, sources, sections), nl=False)


@main.command()
@click.option("--host", default="127.0.0.1", help="Interface to listen on.")
@click.option("--port", type=int, default=4566, help="Port (HTTP/1.1 and cleartext HTTP/2).")
def emulator(host: str, port: int) -> None:
    """Serve the embedded AWS emulator in the foreground (Ctrl-C stops it).

    Example: pipeline emulator --port 4566 & pipeline --endpoint-url http://127.0.0.1:4566 provision
    """
    from pipeline.emulator import serve

    services = "Kinesis, DynamoDB, S3, Firehose, Glue, SQS, SNS"
    click.echo(f"AWS emulator on http://{host}:{port} ({services})", err=True)
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


@dataclass(frozen=True)
class DemoRequest:
    """A ``pipeline demo`` command line: what to send, the output folder, the engine."""

    out: str
    engine: str
    source: str
    params: Mapping[str, Any]
    input: str | None = None

    def run(self, config: Config) -> ProduceOptions:
        """The producer's run: a file's records as they are, or a simulated source with 2%
        duplicates unless told otherwise."""
        if self.input:
            if any(self.params[name] not in (None, 0.0) for name in CHAOS_PARAMETERS):
                raise click.UsageError(
                    "--input sends the file's records as they are: chaos options apply to "
                    "simulated sources"
                )
            return ProduceOptions(source="file", **declared_settings(config))
        settings = declared_settings(config) if self.source == "synthetic" else {}
        return source_run(self.params, 0.02, source=self.source, **settings)

    def config(self, config: Config) -> Config:
        """The configuration whose stream carries this demo's events."""
        if self.input or self.source == "synthetic":
            return config
        stream = dataclasses.replace(config.stream, event_type=self.source)
        return dataclasses.replace(config, stream=stream)


def _demo_request(
    *, out: str, source: str, engine: str, input_path: str | None, **params: Any
) -> DemoRequest:
    return DemoRequest(out, engine, source, params, input_path)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option(
    "--source",
    type=click.Choice(["iot", "web", "synthetic"]),
    default="iot",
    help="What to simulate (synthetic: events of the stream's declared type).",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Send this NDJSON file's records (- for standard input) instead of simulating.",
)
@source_options
@click.option(
    "--engine",
    type=click.Choice(["local", "kcl"]),
    default="local",
    help="Consumer engine: local poller, or the real KCL MultiLangDaemon (needs Java).",
)
@pass_context
@domain_errors
@gather_options(_demo_request)
def demo(ctx: CliContext, request: DemoRequest) -> None:
    """Run the whole pipeline end to end on an embedded emulator and keep every output.

    Duplicates default to 2% here; every chaos option of `pipeline produce` applies. With
    --input, the file's records go to the stream as they are, keyed by the stream's declared
    event type (its events are the demo's truth).

    Example: pipeline demo --out demo-out --source web --minutes 5 --late 0.01 --malformed 0.01
    """
    from pipeline.demo import run_demo
    from pipeline.emulator import EmbeddedEmulator

    with EmbeddedEmulator() as emulator_:
        config = request.config(ctx.config().with_endpoint(emulator_.endpoint_url))
        run = request.run(config)
        with contextlib.ExitStack() as stack:
            source = None
            if request.input:
                lines = stack.enter_context(click.open_file(request.input, "rb"))
                source = FileSource(run.event_type, lines, name=request.input)
            summary = run_demo(
                config,
                Path(request.out),
                run,
                say=lambda line: click.echo(line, err=True),
                engine=request.engine,
                records=source.blocks() if source else None,
            )
    c = summary.counters
    click.echo(
        f"\nDemo done: {summary.records_sent} records sent; {c.events} events kept, "
        f"{c.duplicates} duplicates dropped, {c.late} late, {c.dead_letters} dead letters; "
        f"{summary.results_items} window results in DynamoDB; lake rows "
        + ", ".join(f"{k}={v}" for k, v in summary.lake_rows.items())
        + f"; {len(summary.reports)} reports in {request.out}/reports"
    )


def _chaos_options(*, keep: str | None, **params: Any) -> ChaosOptions:
    """The harness's options (imported here: only ``pipeline chaos`` loads the emulator)."""
    from pipeline.harness.chaos import ChaosOptions

    return ChaosOptions(**params, keep=Path(keep) if keep else None)


@main.command()
@click.option("--events", type=int, default=20_000, help="About how many events to produce.")
@click.option("--kills", type=int, default=5, help="How many times to SIGKILL the consumer.")
@click.option("--seed", type=int, default=1, help="Seed of all randomness: a failing run replays.")
@click.option(
    "--engine",
    type=click.Choice(["local", "kcl"]),
    default="local",
    help="Consumer engine: the local poller, or KCL workers (Java; a kill takes a whole worker).",
)
@click.option("--shards", type=int, default=2, help="Shards at the start.")
@click.option("--reshard/--no-reshard", default=True, help="Split and merge shards mid-run.")
@click.option(
    "--strays",
    type=int,
    default=6,
    help="Records a stranger puts mid-run: events from clocks years ahead, stray control records.",
)
@click.option("--keep", type=click.Path(file_okay=False), help="Keep logs and truth here.")
@domain_errors
@gather_options(_chaos_options)
def chaos(options: ChaosOptions) -> None:
    """Run the pipeline under faults, consumer kills and resharding; check nothing is lost.

    Exits 1 unless the verdict shows 0 mismatches and 0 lost.

    Example: pipeline chaos --events 200000 --kills 20 --seed 7
    """
    from pipeline.harness.chaos import run_chaos

    report = run_chaos(options, say=lambda line: click.echo(line, err=True))
    click.echo(report.table())
    for detail in report.verdict.details:
        click.echo(f"  ! {detail}", err=True)
    if not report.ok:
        raise click.ClickException(
            f"chaos run with seed {options.seed} failed: see the verdict above"
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
