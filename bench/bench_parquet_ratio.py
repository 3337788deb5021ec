"""How much smaller the lake's Parquet is than the JSON Firehose receives (the planner's
``parquet_ratio``, which sizes S3 storage and Athena scans).

Seeded IoT events become the rows the consumer sends to Firehose (event fields plus the metadata
columns, newline-terminated JSON), then one Parquet file per simulated delivery, written the way
the emulator's Firehose converts them (the lake table's Glue schema, SNAPPY). Prints JSON bytes,
Parquet bytes and the ratio for several delivery sizes.

    python -m bench.bench_parquet_ratio [--devices 2000] [--minutes 30]
"""

from __future__ import annotations

import argparse

import msgspec

from pipeline.config import load_config
from pipeline.emulator.conversion import parquet_bytes
from pipeline.lake.tables import lake_tables
from producers.iot import IotFleet

T0 = 1_767_225_600_000
SEQUENCE = "49" + "0" * 54


def rows(devices: int, minutes: int) -> list[dict]:
    fleet = IotFleet(devices=devices, seed=7, start_ms=T0)
    out = []
    for n, event in enumerate(fleet.events(T0 + minutes * 60_000)):
        row = event.as_dict()
        row.update(
            shard_id=f"shardId-{n % 4:012d}",
            sequence_number=str(int(SEQUENCE) + n),
            sub_sequence_number=0,
        )
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--minutes", type=int, default=30)
    args = parser.parse_args()
    schema = lake_tables(load_config(env={}))["events"].schema
    all_rows = rows(args.devices, args.minutes)
    encode = msgspec.json.Encoder().encode
    print(f"{'rows per file':>14} {'JSON bytes':>12} {'Parquet bytes':>14} {'ratio':>7}")
    for size in (1_000, 10_000, 100_000):
        chunks = [all_rows[i : i + size] for i in range(0, len(all_rows) - size + 1, size)]
        json_bytes = sum(len(encode(r)) + 1 for chunk in chunks for r in chunk)
        parquet = sum(len(parquet_bytes(schema, chunk, "SNAPPY")) for chunk in chunks)
        print(f"{size:>14,} {json_bytes:>12,} {parquet:>14,} {parquet / json_bytes:>7.3f}")


if __name__ == "__main__":
    main()
