"""``pipeline consume``: run the consumer daemon."""

from __future__ import annotations

import signal
import threading

import click

from consumers.app import local_engine
from pipeline.cli_support import CliContext, domain_errors, pass_context


@click.command("consume")
@click.option(
    "--engine",
    type=click.Choice(["local"]),
    default="local",
    show_default=True,
    help="local: one process polls every shard.",
)
@click.option(
    "--until-end-of-stream",
    is_flag=True,
    help="Stop once every shard has reached the producer's end-of-stream marker.",
)
@pass_context
@domain_errors
def consume(ctx: CliContext, engine: str, until_end_of_stream: bool) -> None:
    """Consume the stream: dedupe, window, write results and the lake.

    Example: pipeline --endpoint-url http://127.0.0.1:4566 consume --until-end-of-stream
    """
    config = ctx.config()
    runner = local_engine(config, ctx.clients(config))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    status = runner.run(
        stop=stop,
        until_end_of_stream=until_end_of_stream,
        on_progress=lambda s: click.echo(_line(s), err=True),
    )
    click.echo(_line(status))


def _line(status: object) -> str:
    c = status.counters  # type: ignore[attr-defined]
    return (
        f"{c.records} records: {c.events} events, {c.duplicates} duplicates, {c.late} late, "
        f"{c.dead_letters} dead letters, {c.results} window results"
    )
