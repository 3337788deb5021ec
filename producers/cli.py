"""``pipeline produce``: simulate sources and push their events into Kinesis."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import click
import msgspec

from pipeline.cli_support import (
    DURATION,
    INSTANT,
    CliContext,
    domain_errors,
    gather_options,
    option_group,
    pass_context,
    progress_bar,
)
from pipeline.config import Config
from pipeline.core.errors import ConfigError
from pipeline.runtime import tune_gc
from producers.block import NO_TIME, Block
from producers.chaos import ChaosOptions
from producers.file_source import FileCounts, FileSource
from producers.metrics import ProducerCollector, producer_metrics_server
from producers.run import ProduceOptions, outgoing_blocks, produce, write_file
from producers.writer import WriterStats

#: The chaos options shared by ``produce`` and ``demo`` (rates in [0, 1]).
chaos_options = option_group(
    click.option(
        "--duplicates",
        type=float,
        default=None,
        help="Rate of records re-sent later as exact copies (dropped by dedupe).",
    ),
    click.option(
        "--out-of-order",
        type=float,
        default=0.0,
        help="Rate of events held back up to --max-disorder (still on time: counted).",
    ),
    click.option(
        "--max-disorder",
        type=DURATION,
        default=None,
        help="Longest hold-back of an out-of-order event [10s iot, 1s web].",
    ),
    click.option(
        "--late",
        type=float,
        default=0.0,
        help="Rate of events re-timed far behind the stream (reported late, not counted).",
    ),
    click.option(
        "--lateness",
        type=DURATION,
        default=None,
        help="The consumer's allowed lateness these labels assume [30s iot, 2s web].",
    ),
    click.option(
        "--malformed",
        type=float,
        default=0.0,
        help="Rate of malformed records (bad JSON, UTF-8, fields, sizes): dead letters.",
    ),
    click.option(
        "--hot-keys",
        type=float,
        default=0.0,
        help="Rate of records sent under one hot partition key.",
    ),
)
#: The parameters of :data:`chaos_options`, which :func:`source_run` turns into ChaosOptions.
CHAOS_PARAMETERS = (
    "duplicates",
    "out_of_order",
    "max_disorder",
    "late",
    "lateness",
    "malformed",
    "hot_keys",
)

_minutes_option = click.option(
    "--minutes", type=float, default=10.0, show_default=True, help="Simulated minutes of events."
)
_seed_option = click.option(
    "--seed", type=int, default=1, show_default=True, help="Seed: same seed, same bytes."
)
#: Chaos, fleet size, simulated duration and seed: shared by ``produce`` and ``demo``.
source_options = option_group(
    chaos_options,
    click.option(
        "--devices",
        "--users",
        "devices",
        type=int,
        default=50,
        show_default=True,
        help="Devices in the fleet (iot) or anonymous users (web).",
    ),
    _minutes_option,
    _seed_option,
)
event_type_option = click.option(
    "--event-type", help="A declared event type [default: the stream's, stream.event_type]."
)
#: The same for synthetic events of a declared type, whose keys are its partition-key values.
synthetic_options = option_group(
    chaos_options,
    click.option(
        "--keys",
        "devices",
        type=int,
        default=50,
        show_default=True,
        help="Distinct partition-key values (devices, users, ...), one event per 10 s each.",
    ),
    _minutes_option,
    _seed_option,
    event_type_option,
)


def source_run(
    params: Mapping[str, Any], default_duplicates: float, **settings: Any
) -> ProduceOptions:
    """The run that the source options in ``params`` describe, with the command's ``settings``.

    Every other parameter in ``params`` must be a :class:`ProduceOptions` field. Unset chaos
    durations are the source's defaults, filled in by :class:`ProduceOptions`.
    """
    duplicates = params["duplicates"]
    chaos = ChaosOptions(
        duplicates=default_duplicates if duplicates is None else duplicates,
        out_of_order=params["out_of_order"],
        max_disorder_ms=params["max_disorder"],
        late=params["late"],
        lateness_ms=params["lateness"],
        malformed=params["malformed"],
        hot_keys=params["hot_keys"],
    )
    rest = {name: value for name, value in params.items() if name not in CHAOS_PARAMETERS}
    return ProduceOptions(**rest, **settings, chaos=chaos)


#: How records are delivered: every ``produce`` command (their names: ProduceOptions fields,
#: except ``json``).
_delivery_options = option_group(
    click.option(
        "--rate", type=float, help="Records per second overall (default: the shards' limits)."
    ),
    click.option(
        "--aggregate", is_flag=True, help="Pack user records KPL-style (many per Kinesis record)."
    ),
    click.option(
        "--spread",
        is_flag=True,
        help="Explicit hash keys: partition keys spread evenly over shards.",
    ),
    click.option(
        "--force",
        is_flag=True,
        help="Allow a --rate above the shards' limits: no per-shard budgets (expect throttling).",
    ),
    click.option(
        "--truth", type=click.Path(dir_okay=False), help="Write the ground truth (JSON lines) here."
    ),
    click.option(
        "--end-of-stream", is_flag=True, help="Finish with an end-of-stream marker on every shard."
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the final statistics as JSON."),
    click.option(
        "--metrics-port",
        type=click.IntRange(0, 65_535),
        help="Serve the run's Prometheus /metrics on this port (0: a free one, printed on stderr).",
    ),
)
#: The options of the simulated sources beyond the source options (their names: ProduceOptions
#: fields, except those :func:`_produce_request` converts or keeps for itself).
_produce_only_options = option_group(
    click.option("--count", type=int, help="Stop after this many events (instead of --minutes)."),
    click.option(
        "--duration",
        type=DURATION,
        help="Simulated time to cover, e.g. 90s, 30m, 1h30m (instead of --minutes).",
    ),
    click.option(
        "--start",
        type=INSTANT,
        default="2026-01-01T00:00:00Z",
        show_default=True,
        help="Event time of the first event: ISO-8601, epoch ms, 2h (ago) or now.",
    ),
    click.option(
        "--speed",
        type=float,
        default=0.0,
        show_default=True,
        help="Simulated seconds per real second (0: as fast as the stream allows).",
    ),
    click.option(
        "--to-file",
        type=click.Path(dir_okay=False),
        help="Write the records as NDJSON here instead of sending them.",
    ),
)


def declared_settings(config: Config, name: str | None = None) -> dict[str, Any]:
    """The :class:`ProduceOptions` settings of a declared event type (default: the stream's):
    the type, and its jobs' smallest allowed lateness, which chaos's durations follow."""
    if name is None:
        etype = config.stream_type
    elif name in config.types:
        etype = config.types[name]
    else:
        known = ", ".join(sorted(config.types))
        raise ConfigError(f"--event-type: unknown event type {name!r} (declared: {known})")
    lateness = [job.lateness_ms for job in config.jobs_for(etype.name)]
    return {"etype": etype, "job_lateness_ms": min(lateness, default=30_000)}


@dataclass(frozen=True)
class ProduceRequest:
    """A ``pipeline produce`` command line: the run, and where its records or figures go.

    The run is built once the configuration is known (:meth:`run`): a synthetic source's
    event type is declared there."""

    source: str
    params: Mapping[str, Any]
    to_file: str | None = None
    as_json: bool = False
    event_type: str | None = None
    metrics_port: int | None = None

    def run(self, config: Config) -> ProduceOptions:
        settings = declared_settings(config, self.event_type) if self.source == "synthetic" else {}
        return source_run(self.params, 0.0, source=self.source, **settings)


def _produce_request(source: str, **params: Any) -> ProduceRequest:
    """The request of a ``produce SOURCE`` command line (``--duration`` overrides --minutes)."""
    duration = params.pop("duration")
    if duration is not None:
        params["minutes"] = duration / 60_000
    params["start_ms"] = params.pop("start")
    to_file, as_json = params.pop("to_file"), params.pop("as_json")
    event_type = params.pop("event_type", None)
    return ProduceRequest(source, params, to_file, as_json, event_type, params.pop("metrics_port"))


@click.group()
def produce_group() -> None:
    """Simulate sources and push their events into the Kinesis stream."""


def _produce(ctx: CliContext, request: ProduceRequest) -> None:
    """Write the records to a file, or send them and print the run's figures."""
    config = ctx.config()
    run = request.run(config)
    if request.to_file:
        written = write_file(run, request.to_file)
        click.echo(f"wrote {written} records to {request.to_file}")
        return
    _send(ctx, config, run, _Output(request.as_json, request.metrics_port))


@dataclass(frozen=True)
class _Output:
    """Where a sending run reports: ``--json`` figures, ``--metrics-port``, and (``size``:
    a file's bytes) the bar's end for a file."""

    as_json: bool
    metrics_port: int | None
    size: int | None = None


def _send(
    ctx: CliContext,
    config: Config,
    run: ProduceOptions,
    output: _Output,
    source: FileSource | None = None,
) -> None:
    """Send a run (or a file's records) and print its figures; on a terminal a bar shows how
    far it is (event time covered, records of --count, or the file's bytes) and the time left."""
    tune_gc()  # a long run allocates millions of short-lived objects
    started = time.monotonic()
    collector = ProducerCollector()
    length, advance = _progress_measure(run, output.size, source is not None)
    with contextlib.ExitStack() as stack:
        if output.metrics_port is not None:
            server = stack.enter_context(producer_metrics_server(collector, output.metrics_port))
            click.echo(f"metrics: http://0.0.0.0:{server.port}/metrics", err=True)
        bar = stack.enter_context(
            progress_bar(
                length or 1,
                "producing",
                enabled=bool(length) and not output.as_json,
                show_pos=False,
                item_show_func=lambda stats: _rates(stats, started),
            )
        )

        def tracked(blocks: Iterable[Block]) -> Iterator[Block]:
            for block in blocks:
                bar.update(max(0, min(length or 0, advance(block, bar.pos)) - bar.pos))
                yield block

        def delivered(stats: WriterStats) -> None:
            collector.observe(stats)
            bar.current_item = stats
            bar.render_progress()

        blocks = source.blocks() if source else outgoing_blocks(run)
        stats = produce(
            run,
            ctx.clients(config).kinesis,
            config.names.stream,
            on_progress=delivered,
            records=tracked(blocks),
        )
        delivered(stats)
    elapsed = max(1e-6, time.monotonic() - started)
    counts = source.counts if source else None
    figures = _figures_json if output.as_json else _figures
    click.echo(figures(stats, elapsed, counts))


def _progress_measure(
    run: ProduceOptions, size: int | None, from_file: bool
) -> tuple[int | None, Callable[[Block, int], int]]:
    """The bar's end and how a block moves it: the file's bytes, the --count's records, or the
    event time (ms) of the --minutes covered; no end (no bar) for standard input."""
    if from_file:
        return size, lambda block, pos: pos + sum(len(data) + 1 for data in block.data)
    if run.count is not None:
        return run.count, lambda block, pos: pos + len(block)

    def covered(block: Block, pos: int) -> int:
        newest = int(block.ts.max()) if len(block) else NO_TIME
        return max(pos, newest - run.start_ms)

    return int(run.minutes * 60_000), covered


def _rates(stats: WriterStats | None, started: float) -> str:
    if stats is None:
        return ""
    elapsed = max(1e-6, time.monotonic() - started)
    return (
        f"{stats.user_records:,} records, {stats.user_records / elapsed:,.0f}/s, "
        f"{stats.bytes / elapsed / 1e6:.2f} MB/s, retried {stats.retried_entries:,}, "
        f"failed {stats.failed:,}"
    )


def _figures_json(stats: WriterStats, elapsed: float, counts: FileCounts | None = None) -> str:
    figures = {
        **(counts.__dict__ if counts else {}),
        **stats.__dict__,
        "seconds": round(elapsed, 3),
        "records_per_s": round(stats.user_records / elapsed, 1),
        "bytes_per_s": round(stats.bytes / elapsed, 1),
    }
    return msgspec.json.encode(figures).decode()


def _figures(stats: WriterStats, elapsed: float, counts: FileCounts | None = None) -> str:
    text = (
        f"sent {stats.user_records:,} records in {stats.records:,} Kinesis records "
        f"({stats.bytes:,} bytes, {stats.calls:,} PutRecords calls) in {elapsed:.1f} s: "
        f"{stats.user_records / elapsed:,.0f} records/s, "
        f"{stats.bytes / elapsed / 1e6:.2f} MB/s; {stats.retried_entries:,} entries "
        f"retried, {stats.throttled_s:.1f} s held back by the shards' budgets; "
        f"errors: {stats.error_codes or 'none'}"
    )
    if counts is not None:
        text += (
            f"\nfrom the file: {counts.records:,} records; {counts.not_json:,} not JSON objects "
            f"and {counts.no_key:,} without a partition key (sent as they are, under line-<n>: "
            f"the consumer dead-letters what is not a valid event); {counts.blank:,} blank lines"
        )
    return text


_SOURCES = {
    "iot": ("IoT telemetry of a simulated fleet", "--devices 200"),
    "web": ("a simulated web click stream", "--users 200"),
    "synthetic": (
        "seeded synthetic events of a declared type (load-test a new schema)",
        "--keys 200",
    ),
}


def _produce_command(source: str) -> click.Command:
    """``produce SOURCE``: one command per source (click binds a function to one command)."""

    @(synthetic_options if source == "synthetic" else source_options)
    @_produce_only_options
    @_delivery_options
    @pass_context
    @domain_errors
    @gather_options(functools.partial(_produce_request, source))
    def command(ctx: CliContext, request: ProduceRequest) -> None:
        _produce(ctx, request)

    what, example = _SOURCES[source]
    command.__doc__ = f"""Send {what} into the stream (or --to-file).

    Records go as fast as the shards take them (1,000 records and 1 MiB per second each) unless
    --rate or --speed slow them down. Chaos rates label every record they touch in --truth.
    Every option can also be set in the environment: PIPELINE_PRODUCE_{source.upper()}_<OPTION>
    (e.g. PIPELINE_PRODUCE_{source.upper()}_RATE=500).

    Example: pipeline produce {source} {example} --minutes 30 --late 0.01 --truth truth.jsonl
    """
    return click.command(source)(command)


for _source in _SOURCES:
    produce_group.add_command(_produce_command(_source))


@produce_group.command("file")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--partition-key",
    help="The field whose value keys each record [default: the type's partition_key].",
)
@event_type_option
@_delivery_options
@pass_context
@domain_errors
def file_command(
    ctx: CliContext,
    path: str,
    partition_key: str | None,
    event_type: str | None,
    as_json: bool,
    metrics_port: int | None,
    **delivery: Any,
) -> None:
    """Send the records of an NDJSON file (- for standard input) as they are.

    One record per non-blank line, its bytes unchanged, keyed by the declared partition_key
    field. A line that is not a JSON object is sent too (the consumer dead-letters it) and
    counted in the summary. Same delivery as the simulated sources: limits, retries, budgets.

    Example: pipeline --config examples/telemetry.toml produce file readings.ndjson --truth t.jsonl
    """
    config = ctx.config()
    run = ProduceOptions(source="file", **delivery, **declared_settings(config, event_type))
    size = os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
    with click.open_file(path, "rb") as lines:
        source = FileSource(run.event_type, lines, partition_key, name=path)
        _send(ctx, config, run, _Output(as_json, metrics_port, size), source)
