"""Compare the consumer's outputs (results table, lake views) with the oracle's expectation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ResultsTable
from pipeline.aws.kinesis import KinesisStream
from pipeline.config import Config
from pipeline.core.records import RawRecord
from pipeline.core.windows.spec import WindowJob
from pipeline.harness.oracle import Expected
from pipeline.lake.tables import lake_tables
from pipeline.reports.duck import LakeSession


@dataclass
class Verdict:
    """Counts of what was checked; ``mismatches`` and ``lost`` must be 0."""

    delivered_records: int = 0
    events: int = 0
    duplicates_removed: int = 0
    late: int = 0
    dead_letters: int = 0
    window_results: int = 0
    mismatches: int = 0
    lost: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.lost == 0

    def problem(self, text: str) -> None:
        self.mismatches += 1
        if len(self.details) < 20:
            self.details.append(text)


def read_stream(
    clients: AwsClients, stream: str
) -> tuple[dict[str, list[RawRecord]], dict[str, tuple[str, ...]]]:
    """Every record of every shard (open and closed) in sequence order, and the shards' parents."""
    kinesis = KinesisStream(clients.kinesis, stream)
    shards: dict[str, list[RawRecord]] = {}
    parents: dict[str, tuple[str, ...]] = {}
    for shard in kinesis.shards():
        parents[shard.shard_id] = shard.parents
        records: list[RawRecord] = []
        iterator = kinesis.iterator(shard.shard_id, None, "TRIM_HORIZON")
        while iterator:
            result = kinesis.read(iterator, 10_000)
            records += result.records
            if not result.records and (not shard.closed or result.next_iterator is None):
                break
            iterator = result.next_iterator
        shards[shard.shard_id] = records
    return shards, parents


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def judge(
    config: Config, clients: AwsClients, jobs: list[WindowJob], expected: Expected
) -> Verdict:
    verdict = Verdict(
        events=len(expected.events),
        duplicates_removed=expected.duplicates,
        late=len(expected.late),
        dead_letters=len(expected.dead_letters),
    )
    names = {j.name for j in jobs}
    items = [
        i
        for i in ResultsTable(clients.dynamodb, config.names.results_table).scan()
        if i["job"] in names
    ]
    got = {}
    for item in items:
        job = next(j for j in jobs if j.name == item["job"])
        got[(job.name, item["window_start_ms"], tuple(item.get(g) for g in job.group_by))] = item
    verdict.window_results = len(got)
    for key, metrics in expected.windows.items():
        item = got.get(key)
        if item is None:
            verdict.lost += 1
            verdict.details.append(f"missing window result {key}")
            continue
        for name, value in metrics.items():
            if not _same(item.get(name), value):
                verdict.problem(f"{key} {name}: got {item.get(name)!r}, expected {value!r}")
    for key in got.keys() - expected.windows.keys():
        verdict.problem(f"unexpected window result {key}")

    tables = lake_tables(config)
    with LakeSession(tables, clients.arrow_s3_filesystem(), config.names.bucket) as session:
        events_table = tables["events"].name
        lake_events = session.query(
            f"SELECT {tables['events'].id_column} AS id FROM v_{events_table}"
        )
        ids = lake_events.column("id").to_pylist()
        late = session.query("SELECT job, event_id FROM v_late_events").to_pylist()
        dead = session.query(
            "SELECT shard_id, sequence_number, sub_sequence_number FROM v_dead_letters"
        ).to_pylist()
    _compare_sets(verdict, "lake events", set(ids), expected.events, len(ids))
    _compare_sets(
        verdict, "late events", {(r["job"], r["event_id"]) for r in late}, expected.late, len(late)
    )
    dead_keys = {(r["shard_id"], r["sequence_number"], r["sub_sequence_number"]) for r in dead}
    _compare_sets(verdict, "dead letters", dead_keys, expected.dead_letters, len(dead))
    return verdict


def _compare_sets(verdict: Verdict, what: str, got: set, expected: set, rows: int) -> None:
    if rows != len(got):
        verdict.problem(f"{what}: {rows - len(got)} ids counted twice in the view")
    missing = expected - got
    if missing:
        verdict.lost += len(missing)
        verdict.details.append(f"{what}: {len(missing)} missing, e.g. {sorted(missing)[:3]}")
    extra = got - expected
    if extra:
        verdict.problem(f"{what}: {len(extra)} unexpected, e.g. {sorted(extra)[:3]}")
