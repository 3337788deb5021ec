"""``pipeline demo``: the whole pipeline end to end on the embedded emulator.

Starts the emulator on a free port, provisions, runs the producer (in a thread) and the consumer
(the local engine, or with ``engine="kcl"`` the real KCL MultiLangDaemon, its lease table
pre-seeded) until every shard has reached the producer's end-of-stream marker (so every window
has closed), flushes Firehose, runs the reports and leaves in ``out``:

* ``truth/events.jsonl``: every record sent, in delivery order, with its labels;
* ``dynamodb/<table>.jsonl``: every item of the results table, as plain JSON;
* ``lake/<key>``: a copy of the lake bucket's objects, same keys;
* ``reports/<report>.csv``: each report's result.

This module and :mod:`pipeline.cli` are the composition root: the only parts of ``pipeline/``
that import ``producers`` and ``consumers``.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from consumers.app import bounded, local_engine
from consumers.cli import ShardWatch
from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ResultsTable
from pipeline.aws.provision import Provisioner
from pipeline.aws.s3 import download_bucket
from pipeline.cli_support import progress_bar
from pipeline.config import Config
from pipeline.core.errors import PipelineError
from pipeline.core.results import Counters
from pipeline.lake.ddl import relation_columns
from pipeline.lake.tables import lake_tables
from pipeline.reports.catalog import available
from pipeline.reports.duck import LakeSession
from pipeline.reports.output import format_table, write_csv
from pipeline.reports.params import bind
from pipeline.reports.runner import run_report
from producers.block import Block
from producers.run import ProduceOptions, produce

log = logging.getLogger(__name__)


@dataclass
class DemoSummary:
    records_sent: int = 0
    counters: Counters = field(default_factory=Counters)
    results_items: int = 0
    lake_objects: int = 0
    lake_rows: dict[str, int] = field(default_factory=dict)
    reports: dict[str, int] = field(default_factory=dict)


def run_demo(
    config: Config,
    out: Path,
    options: ProduceOptions,
    say: Callable[[str], None] = print,
    engine: str = "local",
    records: Iterable[Block] | None = None,
) -> DemoSummary:
    """Run the demo against ``config``'s endpoint (the caller starts the emulator); ``records``
    replace the simulated source (a file's records)."""
    from pipeline.emulator import flush_firehose

    out.mkdir(parents=True, exist_ok=True)
    for sub in ("truth", "dynamodb", "lake", "reports"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir()
    config = bounded(config)  # a bounded run: the producer's end-of-stream markers close it
    clients = AwsClients(config.aws)
    summary = DemoSummary()

    report = Provisioner(config, clients).run()
    say(f"provisioned {len(report.created)} resources on {config.aws.endpoint_url}")

    options = ProduceOptions(
        **{**options.__dict__, "truth": out / "truth" / "events.jsonl", "end_of_stream": True}
    )
    summary.records_sent, summary.counters = _produce_and_consume(
        config, clients, options, say, engine, records
    )
    say(_progress(summary.counters))

    written = flush_firehose(config.aws.endpoint_url)
    say(f"firehose flushed: {written} objects")

    results = ResultsTable(clients.dynamodb, config.names.results_table)
    items = sorted(results.scan(), key=lambda item: (item["pk"], item["sk"]))
    _write_jsonl(out / "dynamodb" / f"{config.names.results_table}.jsonl", items)
    summary.results_items = len(items)

    summary.lake_objects = download_bucket(clients.s3, config.names.bucket, out / "lake")
    summary.lake_rows, summary.reports = _run_reports(config, clients, out / "reports", say)
    return summary


def _produce_and_consume(
    config: Config,
    clients: AwsClients,
    options: ProduceOptions,
    say: Callable[[str], None],
    engine: str,
    records: Iterable[Block] | None,
) -> tuple[int, Counters]:
    """Records sent and the consumer's counters: the producer runs in a thread while the
    consumer runs until every shard has reached the producer's end-of-stream marker."""
    sent: list[int] = []
    producer_error: list[BaseException] = []
    stop = threading.Event()

    def producer() -> None:
        try:
            stats = produce(options, clients.kinesis, config.names.stream, records=records)
            sent.append(stats.records)
        except BaseException as exc:  # reported by the main thread
            producer_error.append(exc)
            stop.set()

    thread = threading.Thread(target=producer, name="producer", daemon=True)
    thread.start()
    with ShardWatch(config) as watch:  # on a terminal: shards at their end, lags
        if engine == "kcl":
            counters = _consume_kcl(config, clients, stop, watch)
        else:
            consumer = local_engine(config, clients)
            status = consumer.run(
                stop=stop,
                until_end_of_stream=True,
                on_progress=lambda _: watch(consumer.statuses()),
                progress_interval_s=1.0,
            )
            counters = status.counters
    thread.join()
    if producer_error:
        raise PipelineError(f"producer failed: {producer_error[0]}") from producer_error[0]
    return sent[0], counters


def _run_reports(
    config: Config, clients: AwsClients, out: Path, say: Callable[[str], None]
) -> tuple[dict[str, int], dict[str, int]]:
    """Rows of each lake table and of each report, whose results go to ``out`` as CSV."""
    lake_rows: dict[str, int] = {}
    report_rows: dict[str, int] = {}
    printed: list[str] = []
    tables = lake_tables(config)
    with LakeSession(tables, clients.arrow_s3_filesystem(), config.names.bucket) as session:
        for table in tables.values():
            count = session.query(f"SELECT count(*) AS n FROM v_{table.name}").column(0)[0].as_py()
            lake_rows[table.name] = count
        chosen = available(relation_columns(tables))
        with progress_bar(len(chosen), "reports") as bar:
            for name, spec in chosen.items():
                result = run_report(session, spec, tables, bind({}))
                write_csv(out / f"{name}.csv", result)
                report_rows[name] = result.num_rows
                bar.update(1)
                printed.append(f"\n== {name}: {spec.description}\n{format_table(result, limit=10)}")
    for text in printed:  # after the bar: a terminal keeps them whole
        say(text)
    return lake_rows, report_rows


def _consume_kcl(
    config: Config, clients: AwsClients, stop: threading.Event, watch: ShardWatch
) -> Counters:
    """One KCL worker on a fresh emulator: seeded leases, and a short failover time (nothing to
    fail over to), which is what its graceful stop waits for."""
    from consumers.kcl.daemon import ExitCode, KclDaemon

    kcl = dataclasses.replace(config.kcl, failover_ms=2_000, shutdown_grace_ms=5_000)
    config = dataclasses.replace(config, kcl=kcl)
    result = KclDaemon(config, clients, seed_leases=True).run(
        stop=stop, until_end_of_stream=True, on_progress=watch, progress_interval_s=1.0
    )
    if result.exit_code != ExitCode.OK:
        raise PipelineError(f"KCL engine: {result.reason}")
    return result.counters


def _progress(c: Counters) -> str:
    return (
        f"consumed {c.records} records: {c.events} events, {c.duplicates} duplicates dropped, "
        f"{c.late} late, {c.dead_letters} dead letters, {c.results} window results"
    )


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    encode = msgspec.json.Encoder(order="sorted").encode
    with path.open("wb") as f:
        for row in rows:
            f.write(encode(row) + b"\n")
