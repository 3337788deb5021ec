"""``pipeline alerts``: evaluate the declared rules on the window results and publish to SNS.

On AWS the seed's real-time platform runs this on DynamoDB Streams -> Lambda -> SNS; here an
evaluator reads the results table (the same rows the stream would carry) once, or every
``--interval`` seconds with ``--follow``. Delivery is once per rule, key and window
(:mod:`pipeline.alerts.deliver`), so running it again, or after a replay, publishes nothing new.
"""

from __future__ import annotations

import json
import time

import click

from pipeline.alerts.complete import complete_before
from pipeline.alerts.deliver import AlertPublisher, claim_lifetime_s, topic_arn
from pipeline.alerts.evaluate import Alert, evaluate
from pipeline.alerts.rules import AlertRule, configured_rules
from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ProgressTable, ResultsTable
from pipeline.aws.kinesis import KinesisStream
from pipeline.cli_support import INSTANT, CliContext, domain_errors, pass_context
from pipeline.config import Config


def active_rules(config: Config) -> tuple[AlertRule, ...]:
    """The rules on jobs of the configured event type (the others have no results here)."""
    mine = {job.name for job in config.stream_jobs}
    return tuple(rule for rule in configured_rules(config) if rule.job in mine)


def evaluate_results(
    config: Config, clients: AwsClients, rules: tuple[AlertRule, ...], since_ms: int | None
) -> list[Alert]:
    """The alerts the results table raises now, on complete windows only (rows from
    ``since_ms`` on, when given)."""
    jobs = {rule.job for rule in rules}
    rows = [
        row
        for row in ResultsTable(clients.dynamodb, config.names.results_table).scan()
        if row.get("job") in jobs and (since_ms is None or row["window_start_ms"] >= since_ms)
    ]
    progress = ProgressTable(
        clients.dynamodb, config.names.state_table, config.consumer.application
    )
    shards = [
        (s.shard_id, s.parents)
        for s in KinesisStream(clients.kinesis, config.names.stream).shards()
    ]
    return evaluate(rules, rows, complete_before(shards, progress.read()))


@click.group("alerts")
def alerts_group() -> None:
    """Alerts on window results, published to SNS once per rule, key and window.

    Example: pipeline alerts run --follow --interval 30
    """


@alerts_group.command("rules")
@pass_context
@domain_errors
def rules_command(ctx: CliContext) -> None:
    """List the declared alert rules, one line each.

    Example: pipeline alerts rules
    """
    config = ctx.config()
    active = {rule.name for rule in active_rules(config)}
    for rule in configured_rules(config):
        note = "" if rule.name in active else "  (job of another event type)"
        click.echo(f"{rule.name:28} {rule.job:16} {rule.when}{note}")


@alerts_group.command("run")
@click.option(
    "--since", type=INSTANT, help="Only windows from this event time: 2026-01-01, ISO time, 2h."
)
@click.option("--follow", is_flag=True, help="Keep evaluating every --interval seconds.")
@click.option("--interval", type=float, default=30.0, help="Seconds between evaluations.")
@click.option("--dry-run", is_flag=True, help="Print the alerts; publish and mark nothing.")
@pass_context
@domain_errors
def run_command(
    ctx: CliContext, since: int | None, follow: bool, interval: float, dry_run: bool
) -> None:
    """Evaluate the rules on the results table and publish new alerts to the SNS topic.

    Prints each alert published as a JSON line; a summary goes to stderr.

    Example: pipeline --endpoint-url http://127.0.0.1:4566 alerts run --since 2h
    """
    config = ctx.config()
    clients = ctx.clients(config)
    rules = active_rules(config)
    publisher = None
    if not dry_run:
        arn = topic_arn(clients.client("sns"), config.names.alerts_topic)
        publisher = AlertPublisher(
            clients.client("sns"),
            arn,
            clients.dynamodb,
            config.names.state_table,
            keep_s=claim_lifetime_s(config),
        )
    try:
        while True:
            _evaluate_once(config, clients, rules, since, publisher)
            if not follow:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def _evaluate_once(
    config: Config,
    clients: AwsClients,
    rules: tuple[AlertRule, ...],
    since_ms: int | None,
    publisher: AlertPublisher | None,
) -> None:
    alerts = evaluate_results(config, clients, rules, since_ms)
    if publisher is None:
        for alert in alerts:
            click.echo(json.dumps(alert.as_dict(), default=str))
        click.echo(f"{len(alerts)} alerts (dry run: nothing published)", err=True)
    else:
        report = publisher.deliver(alerts)
        for alert in report.published:
            click.echo(json.dumps(alert.as_dict(), default=str))
        click.echo(
            f"{len(report.published)} alerts published, {report.already_sent} already sent",
            err=True,
        )
