"""``pipeline plan``: shards, workers, Firehose, DynamoDB, Athena and a monthly cost for a load."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import click

from pipeline.cli_support import CliContext, domain_errors, gather_options, pass_context


def _decimal(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise click.BadParameter(f"{value!r} must be a non-negative number")
    return number


def _groups(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for value in values:
        job, sep, count = value.partition("=")
        if not sep or not count.isdigit() or int(count) < 1:
            raise click.BadParameter(f"{value!r}: expected JOB=N with N >= 1")
        out[job] = int(count)
    return out


@dataclass(frozen=True)
class PlanOptions:
    """A ``pipeline plan`` command line: the load, and what to override in the configuration's
    workload (``None``: the configuration's value)."""

    events_per_second: Decimal
    event_bytes: int | None
    windows_config: str | None
    retention: int | None
    groups: dict[str, int]
    headroom: Decimal
    consumers: int
    result_item_bytes: int
    events_per_vcpu: int | None
    task_vcpu: Decimal
    task_memory_gib: Decimal
    report_hours: int
    reports_per_day: int
    parquet_ratio: Decimal | None
    region: str
    as_json: bool


@click.command("plan")
@click.option(
    "--events-per-second", required=True, callback=_decimal, help="Sustained load (events/s)."
)
@click.option(
    "--event-bytes",
    type=click.IntRange(min=1),
    help="Bytes per record as Kinesis meters it (data plus partition key) [default: estimated "
    "from the stream's declared event type].",
)
@click.option(
    "--windows",
    "windows_config",
    type=click.Path(dir_okay=False, exists=True),
    help="TOML file whose [[jobs]] and settings to plan for (default: the --config in effect).",
)
@click.option("--retention", type=click.IntRange(24, 8760), help="Stream retention in hours.")
@click.option(
    "--groups", multiple=True, callback=_groups, help="JOB=N distinct groups per window (repeat)."
)
@click.option("--headroom", default="0.25", callback=_decimal, help="Capacity above the load.")
@click.option(
    "--consumers", type=click.IntRange(min=1), default=1, help="Applications reading the stream."
)
@click.option(
    "--result-item-bytes", type=click.IntRange(min=1), default=1024, help="Window result size."
)
@click.option(
    "--events-per-vcpu",
    type=click.IntRange(min=1),
    help="Events/s one record processor handles (default: an assumption, see README).",
)
@click.option("--task-vcpu", default="1", callback=_decimal, help="vCPUs per KCL worker task.")
@click.option("--task-memory-gib", default="2", callback=_decimal, help="GiB per worker task.")
@click.option(
    "--report-hours", type=click.IntRange(min=1), default=24, help="Hours of events a report reads."
)
@click.option(
    "--reports-per-day", type=click.IntRange(min=0), default=24, help="Report runs per day."
)
@click.option("--parquet-ratio", callback=_decimal, help="Parquet bytes per JSON byte.")
@click.option("--region", default="us-east-1", help="Region of the unit prices.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_context
@domain_errors
@gather_options(PlanOptions)
def plan(ctx: CliContext, options: PlanOptions) -> None:
    """Plan shards, consumers, Firehose, DynamoDB and Athena for a load, with a monthly cost.

    Example: pipeline plan --events-per-second 5000 --event-bytes 300 --groups device_minute=20000
    """
    from pipeline.planner import load_prices, make_plan, workload_from_config
    from pipeline.planner.render import plan_data, render_text

    config = ctx.config(options.windows_config)
    workload = workload_from_config(
        config,
        options.events_per_second,
        options.event_bytes,
        options.groups,
        retention_hours=options.retention,
        headroom=options.headroom,
        consumers=options.consumers,
        result_item_bytes=options.result_item_bytes,
        events_per_vcpu=options.events_per_vcpu,
        task_vcpu=options.task_vcpu,
        task_memory_gib=options.task_memory_gib,
        report_hours=options.report_hours,
        reports_per_day=options.reports_per_day,
        parquet_ratio=options.parquet_ratio,
    )
    result = make_plan(workload, load_prices(options.region))
    if options.as_json:
        click.echo(json.dumps(plan_data(result), indent=2))
    else:
        click.echo(render_text(result), nl=False)
