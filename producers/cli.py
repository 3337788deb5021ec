"""``pipeline produce``: simulate sources and push their events into Kinesis."""

from __future__ import annotations

import functools
import sys

import click
import msgspec

from pipeline.cli_support import CliContext, domain_errors, pass_context
from producers.chaos import ChaosOptions
from producers.run import ProduceOptions, produce
from producers.writer import WriterStats


def source_options(duplicates: float = 0.0):
    """The options shared by ``produce`` and ``demo``."""
    return functools.partial(_source_options, duplicates=duplicates)


def _source_options(func, duplicates: float):
    options = [
        click.option(
            "--devices", type=int, default=50, show_default=True, help="Devices in the fleet."
        ),
        click.option(
            "--minutes",
            type=float,
            default=10.0,
            show_default=True,
            help="Simulated minutes of events.",
        ),
        click.option(
            "--seed", type=int, default=1, show_default=True, help="Seed: same seed, same bytes."
        ),
        click.option(
            "--duplicates",
            type=float,
            default=duplicates,
            show_default=True,
            help="Rate of records re-sent later as exact duplicates (labelled in the truth).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def produce_group() -> None:
    """Simulate sources and push their events into the Kinesis stream."""


@produce_group.command("iot")
@source_options()
@click.option(
    "--speed",
    type=float,
    default=0.0,
    show_default=True,
    help="Simulated seconds per real second (0: as fast as the stream takes them).",
)
@click.option(
    "--truth", type=click.Path(dir_okay=False), help="Write the ground truth (JSON lines) here."
)
@click.option(
    "--end-of-stream", is_flag=True, help="Finish with an end-of-stream marker on every shard."
)
@click.option("--json", "as_json", is_flag=True, help="Print the final statistics as JSON.")
@pass_context
@domain_errors
def produce_iot(
    ctx: CliContext,
    devices: int,
    minutes: float,
    seed: int,
    duplicates: float,
    speed: float,
    truth: str | None,
    end_of_stream: bool,
    as_json: bool,
) -> None:
    """Send IoT telemetry of a simulated fleet.

    Example: pipeline produce iot --devices 200 --minutes 30 --duplicates 0.02 --truth truth.jsonl
    """
    config = ctx.config()
    options = ProduceOptions(
        devices=devices,
        minutes=minutes,
        seed=seed,
        speed=speed,
        chaos=ChaosOptions(duplicates=duplicates),
        end_of_stream=end_of_stream,
        truth=truth,
    )
    clients = ctx.clients(config)
    interactive = sys.stderr.isatty() and not as_json

    def progress(stats: WriterStats) -> None:
        if interactive:
            click.echo(
                f"\r{stats.records} records, {stats.bytes} bytes, {stats.retried_entries} retried",
                nl=False,
                err=True,
            )

    stats = produce(options, clients.kinesis, config.names.stream, on_progress=progress)
    if interactive:
        click.echo("", err=True)
    if as_json:
        click.echo(msgspec.json.encode(stats.__dict__).decode())
    else:
        click.echo(
            f"sent {stats.records} records ({stats.bytes} bytes) in {stats.calls} PutRecords "
            "calls; "
            f"{stats.retried_entries} entries retried"
        )
