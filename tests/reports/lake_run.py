"""A seeded run written to the lake of an emulator: records -> ShardCore -> AwsOutputSink
(DynamoDB + Firehose) -> flushed Parquet, and the ground truth of what was sent.

The records go straight to the core and the sinks (no Kinesis in between): what the reports see
is exactly what the consumer writes for them, and the truth is the list of records sent.
"""

from __future__ import annotations

import dataclasses
import random
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ProgressTable
from pipeline.aws.provision import Provisioner
from pipeline.aws.sinks import AwsOutputSink
from pipeline.config import Config, load_config
from pipeline.core.records import RawRecord
from pipeline.core.shard import END_OF_STREAM, ShardCore
from pipeline.core.times import parse_duration
from pipeline.emulator import flush_firehose
from pipeline.testing import BOUNDED
from producers.iot import IotFleet

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
#: A declared event type (telemetry) and a job declared only there (site_5m)
TELEMETRY_EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "telemetry.toml"
SHARDS = ("shardId-000000000000", "shardId-000000000001")
#: Every record's arrival: after its event time (the test lakes hold less than an hour), in the
#: first hour's partition
ARRIVAL_MS = START_MS + 3_599_999
_encode = msgspec.json.Encoder().encode


def lake_config(
    endpoint_url: str, name: str, event_type_name: str = "iot", path: Path | None = None
) -> Config:
    base = load_config(path, env={"PIPELINE_STREAM_EVENT_TYPE": event_type_name})
    names = dataclasses.replace(
        base.names,
        stream=f"{name}-events",
        results_table=f"{name}-results",
        state_table=f"{name}-state",
        bucket=f"{name}-lake",
        state_bucket=f"{name}-snapshots",
        glue_database=name,
        firehose_prefix=f"{name}-",
        alerts_topic=f"{name}-alerts",
        lake_events_queue=f"{name}-lake-events",
    )
    return dataclasses.replace(base.with_endpoint(endpoint_url), names=names)


@dataclass
class Sent:
    """Ground truth: every record sent per shard in order, the distinct valid events among them
    (late ones included: they are valid events, only too late for their window), the ids sent
    late and the class of each bad record."""

    records: dict[str, list[bytes]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    late_ids: set[str] = field(default_factory=set)
    dead_reasons: list[str] = field(default_factory=list)


def shard_of(key: str) -> str:
    return SHARDS[zlib.crc32(key.encode()) % len(SHARDS)]


SILENT_DEVICE = "meter-00001"  # stops reporting after minute 3
GAP_DEVICE = "thermostat-00003"  # offline during minutes 1 and 2


def _kept(device_id: str, ts: int) -> bool:
    minute = (ts - START_MS) // 60_000
    if device_id == SILENT_DEVICE:
        return minute < 3
    return not (device_id == GAP_DEVICE and minute in (1, 2))


def iot_records(devices: int, minutes: int, seed: int, duplicates: int = 15) -> Sent:
    """A seeded fleet (one device falls silent, one has a gap) with duplicates, late events and
    bad records injected."""
    rng = random.Random(seed)
    until = START_MS + minutes * 60_000
    fleet = [e for e in IotFleet(devices, seed, START_MS).events(until) if _kept(e.device_id, e.ts)]
    sent = Sent({shard: [] for shard in SHARDS})
    for event in fleet:
        sent.records[shard_of(event.device_id)].append(_encode(event.as_dict()))
        sent.events.append(event.as_dict())
    for event in rng.sample(fleet, duplicates):  # producer retries: the same record again
        sent.records[shard_of(event.device_id)].append(_encode(event.as_dict()))
    for n, event in enumerate(rng.sample(fleet, 4)):  # a device's clock reset: far behind
        late = event.as_dict() | {"event_id": f"late-{n}", "ts": START_MS + 1_000 + n}
        sent.records[shard_of(event.device_id)].append(_encode(late))
        sent.late_ids.add(late["event_id"])
        sent.events.append(late)
    bad = [
        (b'{"event_id": "broken', "invalid JSON"),
        (b"not json at all", "invalid JSON"),
        (
            _encode(fleet[0].as_dict() | {"event_id": "hot", "temperature": 500.0}),
            "schema violation",
        ),
        (b'{"_control":"pause"}', "unknown control record"),
    ]
    for data, reason in bad:
        sent.records[SHARDS[0]].append(data)
        sent.dead_reasons.append(reason)
    return sent


def web_records(seconds: int, seed: int) -> Sent:
    """Seeded clicks (payloads of pipeline.core.events.schema.WebClick) over ``seconds``."""
    rng = random.Random(seed)
    users = [f"user-{i}" for i in range(40)]
    sent = Sent({shard: [] for shard in SHARDS})
    for n in range(seconds * 25):
        at_ms = START_MS + n * 40 + rng.randint(0, 39)
        user = rng.choice(users)
        click = {
            "event_id": f"click-{n}",
            "recordTime": at_ms / 1000,
            "cognitoId": user,
            "os": rng.choice(["Android", "iOS", "Windows Phone", "other"]),
            "quadrant": rng.choice("ABCD"),
        }
        sent.records[shard_of(user)].append(_encode(click))
        sent.events.append(click)
    return sent


def write_to_lake(config: Config, clients: AwsClients, sent: Sent, batch: int = 200) -> None:
    """Provision, run every shard's records through its core and the AWS sinks, close the
    windows (end of stream), record each shard's progress (ended) as a consumer does, and
    deliver Firehose's buffers."""
    Provisioner(config, clients).run()
    etype = config.stream_type
    jobs = config.jobs_for(etype.name)
    sink = AwsOutputSink(config, clients)
    progress = ProgressTable(
        clients.dynamodb, config.names.state_table, config.consumer.application
    )
    for shard, records in sent.records.items():
        horizon_ms = parse_duration(config.consumer.dedupe_horizon, "dedupe_horizon")
        core = ShardCore(etype, jobs, shard, replace(BOUNDED, dedupe_horizon_ms=horizon_ms))
        raw = [RawRecord(d, "pk", str(i + 1), 0, ARRIVAL_MS) for i, d in enumerate(records)]
        raw.append(RawRecord(END_OF_STREAM, "pk", str(len(raw) + 1)))
        for start in range(0, len(raw), batch):
            sink.write(core.process(raw[start : start + batch]), shard)
        progress.record(shard, core.newest_event_time_ms, core.ended, ())
    flush_firehose(config.aws.endpoint_url)


class Lake:
    """A written lake: its configuration, ground truth, clients and a DuckDB session on it."""

    def __init__(self, config: Config, sent: Sent | None) -> None:
        from pipeline.lake.tables import lake_tables
        from pipeline.reports.duck import LakeSession

        self.config = config
        self.sent = sent
        self.clients = AwsClients(config.aws)
        self.tables = lake_tables(config)
        self.session = LakeSession(
            self.tables, self.clients.arrow_s3_filesystem(), config.names.bucket
        )

    def run(self, name: str, **given: object) -> list[dict[str, Any]]:
        """A shipped report's rows, with parameters."""
        from pipeline.reports.catalog import report
        from pipeline.reports.params import bind
        from pipeline.reports.runner import run_report

        return run_report(self.session, report(name), self.tables, bind(given)).to_pylist()

    def env(self) -> dict[str, str]:
        """The environment that points ``pipeline`` at this lake's resources."""
        names = self.config.names
        return {
            "PIPELINE_STREAM_EVENT_TYPE": self.config.stream.event_type,
            "PIPELINE_NAMES_STREAM": names.stream,
            "PIPELINE_NAMES_BUCKET": names.bucket,
            "PIPELINE_NAMES_FIREHOSE_PREFIX": names.firehose_prefix,
            "PIPELINE_NAMES_GLUE_DATABASE": names.glue_database,
            "PIPELINE_NAMES_RESULTS_TABLE": names.results_table,
            "PIPELINE_NAMES_STATE_TABLE": names.state_table,
            "PIPELINE_NAMES_ALERTS_TOPIC": names.alerts_topic,
            "PIPELINE_NAMES_LAKE_EVENTS_QUEUE": names.lake_events_queue,
        }
