"""Firehose through the emulator: buffering, Parquet conversion, error output, object keys."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.emulator import EmbeddedEmulator, firehose, flush_firehose

pytestmark = pytest.mark.emulator

ROLE = "arn:aws:iam::123456789012:role/firehose"
NAME_TAIL = r"-1-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f-]{36}"
COLUMNS = [
    {"Name": "id", "Type": "string"},
    {"Name": "n", "Type": "bigint"},
    {"Name": "small", "Type": "int"},
    {"Name": "score", "Type": "double"},
    {"Name": "ratio", "Type": "float"},
    {"Name": "ok", "Type": "boolean"},
    {"Name": "ts", "Type": "timestamp"},
    {"Name": "tags", "Type": "map<string,string>"},
    {"Name": "items", "Type": "array<int>"},
]


def utc_wall_clock(*fields: int) -> datetime:
    """Hive timestamps have no zone: the Parquet column holds UTC wall-clock time."""
    return datetime(*fields, tzinfo=UTC).replace(tzinfo=None)


GOOD = [
    b'{"id":"a","n":1,"small":2,"score":1.5,"ratio":0.25,"ok":true,"ts":1700000000123,'
    b'"tags":{"k":"v"},"items":[1,2]}\n',
    b'{"ID":"b","N":"9007199254740993","ts":"2024-01-02T03:04:05.678Z","extra":1}\n',
    b'{"id":7,"ok":"false","score":null}',
]
ROWS = [
    {
        "id": "a",
        "n": 1,
        "small": 2,
        "score": 1.5,
        "ratio": 0.25,
        "ok": True,
        "ts": utc_wall_clock(2023, 11, 14, 22, 13, 20, 123000),
        "tags": [("k", "v")],
        "items": [1, 2],
    },
    {"id": "b", "n": 9007199254740993, "ts": utc_wall_clock(2024, 1, 2, 3, 4, 5, 678000)},
    {"id": "7", "ok": False},
]
BAD = {
    b"not json\n": "DataFormatConversion.ParseError",
    b"[1, 2]\n": "DataFormatConversion.MalformedData",
    b'{"id":"c","n":"abc"}\n': "DataFormatConversion.MalformedData",
    b'{"id":"d","small":3000000000}\n': "DataFormatConversion.MalformedData",
}


def full_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{column["Name"]: row.get(column["Name"]) for column in COLUMNS} for row in rows]


def objects(s3: Any, bucket: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def create_stream(client: Callable[[str], Any], name: str, **destination: Any) -> Any:
    client("s3").create_bucket(Bucket=name)
    config = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{name}", **destination}
    fh = client("firehose")
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=config)
    return fh


def parquet_destination(database: str, compression: str = "SNAPPY") -> dict[str, Any]:
    return {
        "Prefix": "events/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/",
        "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
        "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900},
        "CompressionFormat": "UNCOMPRESSED",
        "DataFormatConversionConfiguration": {
            "Enabled": True,
            "SchemaConfiguration": {
                "RoleARN": ROLE,
                "DatabaseName": database,
                "TableName": "events",
                "Region": "us-east-1",
            },
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {
                "Serializer": {"ParquetSerDe": {"Compression": compression}}
            },
        },
    }


def put(fh: Any, name: str, records: list[bytes]) -> None:
    response = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])
    assert response["FailedPutCount"] == 0
    assert len(response["RequestResponses"]) == len(records)


def create_glue_table(client: Callable[[str], Any], name: str) -> None:
    """Database ``name`` with a table ``events`` of COLUMNS, partitioned like the lake."""
    glue = client("glue")
    glue.create_database(DatabaseInput={"Name": name})
    glue.create_table(
        DatabaseName=name,
        TableInput={
            "Name": "events",
            "StorageDescriptor": {"Columns": COLUMNS},
            "PartitionKeys": [{"Name": "dt", "Type": "string"}, {"Name": "hour", "Type": "string"}],
        },
    )


def assert_converted(body: bytes) -> None:
    """Snappy Parquet with the Glue table's columns and types, one row per good record."""
    parquet = pq.ParquetFile(io.BytesIO(body))
    assert parquet.metadata.row_group(0).column(0).compression == "SNAPPY"
    table = parquet.read()
    assert table.schema.names == [column["Name"] for column in COLUMNS]
    assert table.schema.types == [
        pa.string(),
        pa.int64(),
        pa.int32(),
        pa.float64(),
        pa.float32(),
        pa.bool_(),
        pa.timestamp("ms"),
        pa.map_(pa.string(), pa.string()),
        pa.list_(pa.int32()),
    ]
    assert table.to_pylist() == full_rows(ROWS)


def assert_error_output(body: bytes, name: str, before: datetime) -> None:
    """One line per bad record: its bytes, error code, times and the Glue table it failed."""
    lines = [json.loads(line) for line in body.splitlines()]
    assert {base64.b64decode(line["rawData"]): line["lastErrorCode"] for line in lines} == BAD
    for line in lines:
        assert line["attemptsMade"] == 1
        assert line["lastErrorMessage"]
        assert (
            before.timestamp() * 1000 - 1
            <= line["arrivalTimestamp"]
            <= line["attemptEndingTimestamp"]
        )
        assert line["dataCatalogTable"] == {
            "catalogId": "123456789012",
            "databaseName": name,
            "tableName": "events",
            "region": "us-east-1",
            "versionId": "LATEST",
            "catalogArn": "arn:aws:glue:us-east-1:123456789012:catalog",
        }


def test_parquet_conversion_with_error_output(
    emulator: EmbeddedEmulator, client: Callable[[str], Any], name: str
) -> None:
    create_glue_table(client, name)
    fh = create_stream(client, name, **parquet_destination(name))
    records = [GOOD[0], *BAD, GOOD[1], GOOD[2]]
    before = datetime.now(UTC)
    put(fh, name, records[:3])
    put(fh, name, records[3:])
    after = datetime.now(UTC)
    s3 = client("s3")
    assert objects(s3, name) == {}  # buffered: neither hint is reached

    assert flush_firehose(emulator.endpoint_url, stream=name) == 2
    written = objects(s3, name)
    data_keys = [key for key in written if key.startswith("events/")]
    error_keys = [key for key in written if key.startswith("errors/")]
    assert len(data_keys) == len(error_keys) == 1
    partitions = {f"events/dt={t:%Y-%m-%d}/hour={t:%H}/" for t in (before, after)}
    prefix, object_name = data_keys[0].rsplit("/", 1)
    assert f"{prefix}/" in partitions
    assert re.fullmatch(rf"{name}{NAME_TAIL}\.parquet", object_name)
    assert re.fullmatch(rf"errors/format-conversion-failed/{name}{NAME_TAIL}", error_keys[0])
    assert_converted(written[data_keys[0]])
    assert_error_output(written[error_keys[0]], name, before)
    assert flush_firehose(emulator.endpoint_url, stream=name) == 0


def test_a_packed_record_is_a_row_per_document_and_a_bad_document_rejects_it_whole(
    emulator: EmbeddedEmulator, client: Callable[[str], Any], name: str
) -> None:
    """Several JSON documents concatenated in one record (as the consumer packs its rows) are
    several rows; a record with one document that does not convert goes to the error output
    whole, its good documents with it, as Firehose does."""
    create_glue_table(client, name)
    fh = create_stream(client, name, **parquet_destination(name))
    packed = GOOD[0] + GOOD[1] + GOOD[2]
    spoiled = b'{"id":"e","n":5}\n' + next(iter(BAD)) + b'{"id":"f","n":6}\n'
    put(fh, name, [packed, spoiled])
    assert flush_firehose(emulator.endpoint_url, stream=name) == 2
    written = objects(client("s3"), name)
    (data,) = (body for key, body in written.items() if key.startswith("events/"))
    (errors,) = (body for key, body in written.items() if key.startswith("errors/"))
    assert_converted(data)
    (line,) = [json.loads(line) for line in errors.splitlines()]
    assert base64.b64decode(line["rawData"]) == spoiled
    assert line["lastErrorCode"] == "DataFormatConversion.ParseError"


def test_missing_glue_table_sends_every_record_to_the_error_output(
    emulator: EmbeddedEmulator, client: Callable[[str], Any], name: str
) -> None:
    fh = create_stream(client, name, **parquet_destination("no_such_database", "GZIP"))
    put(fh, name, GOOD)
    assert flush_firehose(emulator.endpoint_url, stream=name) == 1
    ((key, body),) = objects(client("s3"), name).items()
    assert key.startswith("errors/format-conversion-failed/")
    lines = [json.loads(line) for line in body.splitlines()]
    assert [base64.b64decode(line["rawData"]) for line in lines] == GOOD
    assert {line["lastErrorCode"] for line in lines} == {"DataFormatConversion.EntityNotFound"}


def test_the_size_hint_delivers_by_itself(client: Callable[[str], Any], name: str) -> None:
    hints = {"SizeInMBs": 1, "IntervalInSeconds": 900}
    fh = create_stream(client, name, Prefix="raw/", BufferingHints=hints)
    batches = [[bytes([65 + b]) * 100_000 + b"\n" for _ in range(4)] for b in range(3)]
    s3 = client("s3")
    put(fh, name, batches[0])
    put(fh, name, batches[1])
    assert objects(s3, name) == {}  # 800 KB < 1 MiB
    put(fh, name, batches[2])  # 1.2 MB >= 1 MiB: delivered during this call
    written = objects(s3, name)
    assert list(written.values()) == [b"".join(b"".join(batch) for batch in batches)]
    assert re.fullmatch(rf"raw/\d{{4}}/\d\d/\d\d/\d\d/{name}{NAME_TAIL}", next(iter(written)))


def test_the_interval_hint_delivers_after_the_first_record_ages(
    client: Callable[[str], Any], name: str
) -> None:
    hints = {"SizeInMBs": 128, "IntervalInSeconds": 900}
    fh = create_stream(client, name, BufferingHints=hints)
    before = time.time()
    put(fh, name, [b"one"])
    after = time.time()
    assert firehose.flush_due(before + 899) == 0  # what the timer thread calls every 0.2 s
    assert firehose.flush_due(after + 900) == 1
    assert list(objects(client("s3"), name).values()) == [b"one"]


def test_gzip_without_conversion(
    emulator: EmbeddedEmulator, client: Callable[[str], Any], name: str
) -> None:
    hints = {"SizeInMBs": 128, "IntervalInSeconds": 900}
    fh = create_stream(client, name, Prefix="raw", BufferingHints=hints, CompressionFormat="GZIP")
    records = [b'{"a":1}\n', b'{"a":2}\n', b"no separator added"]
    put(fh, name, records)
    assert flush_firehose(emulator.endpoint_url, stream=name) == 1
    ((key, body),) = objects(client("s3"), name).items()
    assert re.fullmatch(rf"raw\d{{4}}/\d\d/\d\d/\d\d/{name}{NAME_TAIL}\.gz", key)
    assert gzip.decompress(body) == b"".join(records)


def test_a_failed_delivery_is_reported_by_the_flush(
    emulator: EmbeddedEmulator, client: Callable[[str], Any], name: str
) -> None:
    fh = client("firehose")
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::missing"},
    )
    put(fh, name, [b"lost"])
    with pytest.raises(RuntimeError, match=rf"\(500\).*{name}.*bucket does not exist"):
        flush_firehose(emulator.endpoint_url, stream=name)
    assert flush_firehose(emulator.endpoint_url, stream=name) == 0  # dropped, not retried
