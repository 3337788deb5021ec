"""Firehose records and billed GiB per million events, one row per record (before) and packed
(``firehose.record_kib``, now), measured through the consumer's real write path.

Seeded IoT events go through ``ShardCore`` and ``AwsOutputSink`` (DynamoDB and Firehose on the
embedded emulator), one shard batch at a time, as the consumer writes them; a wrapper around the
Firehose client counts what each PutRecordBatch sends. Firehose bills each record rounded up to
5 KiB: *after* bills the packed records as sent, *before* bills each row (each JSON document in
them) as a record of its own, which is what the consumer sent before packing. The lake is then
flushed and its rows counted: the emulator converted every document of every packed record.

    python -m bench.bench_firehose_packing [--devices 1000] [--minutes 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pyarrow.dataset as ds

from pipeline.aws.clients import AwsClients
from pipeline.aws.provision import Provisioner
from pipeline.aws.sinks import AwsOutputSink
from pipeline.config import Config, load_config
from pipeline.core.records import RawRecord
from pipeline.core.shard import END_OF_STREAM, ShardCore
from pipeline.emulator import EmbeddedEmulator, flush_firehose
from pipeline.lake.tables import lake_tables
from producers.iot import IotFleet

T0 = 1_767_225_600_000
SHARDS = ("shardId-000000000000", "shardId-000000000001")
BILLING_UNIT = 5 * 1024
GIB = 1024**3
_encode = msgspec.json.Encoder().encode


@dataclass
class Sent:
    """What the consumer sent to one delivery stream."""

    calls: int = 0
    records: int = 0
    rows: int = 0
    billed_packed: int = 0
    billed_row_per_record: int = 0


@dataclass
class CountingFirehose:
    """The emulator's Firehose client, counting each PutRecordBatch by delivery stream."""

    client: Any
    sent: dict[str, Sent] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> Any:
        counts = self.sent.setdefault(DeliveryStreamName, Sent())
        counts.calls += 1
        for record in Records:
            data = record["Data"]
            rows = data.splitlines(keepends=True)
            counts.records += 1
            counts.rows += len(rows)
            counts.billed_packed += _billed(len(data))
            counts.billed_row_per_record += sum(_billed(len(row)) for row in rows)
        return self.client.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=Records)


def _billed(size: int) -> int:
    return math.ceil(size / BILLING_UNIT) * BILLING_UNIT


class CountingClients(AwsClients):
    """The clients of one configuration, the Firehose one counting."""

    def __init__(self, config: Config) -> None:
        super().__init__(config.aws)
        self.counting = CountingFirehose(super().client("firehose"))

    def client(self, service: str) -> Any:
        return self.counting if service == "firehose" else super().client(service)


def shard_records(devices: int, minutes: int) -> dict[str, list[RawRecord]]:
    """The fleet's events by shard (keyed by device, as the producer keys them), in order."""
    fleet = IotFleet(devices, 7, T0).events(T0 + minutes * 60_000)
    payloads: dict[str, list[bytes]] = {shard: [] for shard in SHARDS}
    for event in fleet:
        shard = SHARDS[zlib.crc32(event.device_id.encode()) % len(SHARDS)]
        payloads[shard].append(_encode(event.as_dict()))
    return {
        shard: [RawRecord(data, "pk", str(i + 1), 0, T0) for i, data in enumerate(datas)]
        + [RawRecord(END_OF_STREAM, "pk", str(len(datas) + 1))]
        for shard, datas in payloads.items()
    }


def batches(records: list[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def run(endpoint_url: str, records: dict[str, list[RawRecord]], batch: int) -> dict[str, Any]:
    """One consumer run writing ``batch`` records of a shard at a time: what it sent to each
    delivery stream, and the rows the lake holds after the flush."""
    name = f"b{uuid.uuid4().hex[:8]}"
    config = load_config(env={}).with_endpoint(endpoint_url)
    names = dataclasses.replace(
        config.names,
        stream=name,
        results_table=f"{name}-results",
        state_table=f"{name}-state",
        bucket=f"{name}-lake",
        state_bucket=f"{name}-state",
        glue_database=name,
        firehose_prefix=f"{name}-",
    )
    config = dataclasses.replace(config, names=names)
    clients = CountingClients(config)
    Provisioner(config, clients).run()
    sink = AwsOutputSink(config, clients)
    jobs = config.stream_jobs
    for shard, shard_batch in records.items():
        core = ShardCore(config.stream_type, jobs, shard)
        for part in batches(shard_batch, batch):
            sink.write(core.process(part), shard)
    flush_firehose(endpoint_url)
    tables = lake_tables(config)
    filesystem = clients.arrow_s3_filesystem()
    lake_rows = {
        t.delivery_stream: ds.dataset(
            f"{config.names.bucket}/{t.location}", filesystem=filesystem, format="parquet"
        ).count_rows()
        for t in tables.values()
        if t.delivery_stream in clients.counting.sent
    }
    return {"sent": clients.counting.sent, "lake_rows": lake_rows, "tables": tables}


def per_million(value: float, events: int) -> float:
    return value * 1_000_000 / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--batches", default="100,1000,10000", help="records per shard write")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    records = shard_records(args.devices, args.minutes)
    events = sum(len(r) - 1 for r in records.values())
    print(f"{events:,} events, {args.devices:,} devices, {len(SHARDS)} shards")
    header = (
        f"{'batch':>6} {'table':<22} {'rows':>9} {'records before':>15} {'after':>8} "
        f"{'GiB/1M before':>14} {'after':>7} {'lake rows':>10}"
    )
    print(header)
    figures = []
    with EmbeddedEmulator() as emulator:
        for batch in (int(b) for b in args.batches.split(",")):
            out = run(emulator.endpoint_url, records, batch)
            for table in out["tables"].values():
                sent: Sent = out["sent"].get(table.delivery_stream)
                if sent is None:
                    continue
                row = {
                    "batch": batch,
                    "table": table.name,
                    "rows": sent.rows,
                    "calls": sent.calls,
                    "records_per_million_before": per_million(sent.rows, events),
                    "records_per_million_after": per_million(sent.records, events),
                    "billed_gib_per_million_before": per_million(
                        sent.billed_row_per_record / GIB, events
                    ),
                    "billed_gib_per_million_after": per_million(sent.billed_packed / GIB, events),
                    "lake_rows": out["lake_rows"][table.delivery_stream],
                }
                figures.append(row)
                print(
                    f"{batch:>6,} {table.name:<22} {sent.rows:>9,} "
                    f"{row['records_per_million_before']:>15,.0f} "
                    f"{row['records_per_million_after']:>8,.0f} "
                    f"{row['billed_gib_per_million_before']:>14.3f} "
                    f"{row['billed_gib_per_million_after']:>7.3f} {row['lake_rows']:>10,}"
                )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"events": events, "figures": figures}, file, indent=2)


if __name__ == "__main__":
    main()
