"""What the consumer's core does with each record of a shard, and what the ground truth says it
must do: the two are compared record by record, in shard order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipeline.config import load_config
from pipeline.config import shipped_event_type as event_type
from pipeline.core.kpl import deaggregate
from pipeline.core.records import RawRecord
from pipeline.core.shard import ShardCore
from pipeline.core.times import parse_duration
from pipeline.testing import BOUNDED
from producers.shards import ShardMap


def consumed(source: str, shard: str, records: list[RawRecord]) -> list[tuple[bytes, str]]:
    """(payload, outcome) of each user record in shard order, as :class:`ShardCore` decides:
    counted, duplicate, late, dead, control."""
    users = [user for record in records for user in deaggregate(record)]
    config = load_config(env={})
    horizon = parse_duration(config.consumer.dedupe_horizon, "consumer.dedupe_horizon")
    jobs = config.jobs_for(source)
    core = ShardCore(event_type(source), jobs, shard, replace(BOUNDED, dedupe_horizon_ms=horizon))
    outcome: dict[tuple[str, int], str] = {}
    for start in range(0, len(users), 700):
        done = core.process(users[start : start + 700])
        outcome.update({(e.sequence_number, e.sub_sequence_number): "counted" for e in done.events})
        outcome.update({(e.sequence_number, e.sub_sequence_number): "late" for e in done.late})
        outcome.update(
            {(d.sequence_number, d.sub_sequence_number): "dead" for d in done.dead_letters}
        )
    out = []
    for user in users:
        if user.data.startswith(b'{"_control"'):
            out.append((user.data, "control"))
        else:
            out.append(
                (
                    user.data,
                    outcome.get((user.sequence_number, user.sub_sequence_number), "duplicate"),
                )
            )
    return out


def outcome_of(labels: dict[str, Any]) -> str:
    """What a correct consumer does with a record labelled so (control records aside)."""
    if "malformed" in labels:
        return "dead"
    if labels.get("late"):
        return "late"
    return "duplicate" if "duplicate_of" in labels else "counted"


def expected(
    truth: list[dict[str, Any]], shard_map: ShardMap
) -> dict[str, list[tuple[bytes, str]]]:
    """(payload, outcome) of each truth line by shard, in truth order, from the labels alone."""
    by_shard: dict[str, list[tuple[bytes, str]]] = {s.shard_id: [] for s in shard_map.shards}
    for line in truth:
        labels = line["labels"]
        if "control" in labels:
            by_shard[line["partition_key"]].append((line["data"], "control"))
            continue
        by_shard[shard_map.shard_of(line["partition_key"])].append(
            (line["data"], outcome_of(labels))
        )
    return by_shard
