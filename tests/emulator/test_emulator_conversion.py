"""Units of the Firehose emulation: prefix expressions, object names, JSON to typed Parquet."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.emulator.conversion import ConversionError, RecordConverter, hive_type, parquet_bytes
from pipeline.emulator.prefixes import evaluate_prefix, format_java, object_name

pytestmark = pytest.mark.emulator

AT = datetime(2026, 3, 7, 4, 5, 6, 789000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd", "2026-03-07"),
        ("HH", "04"),
        ("yyyy/MM/dd/HH/mm/ss", "2026/03/07/04/05/06"),
        ("yy M d H m s", "26 3 7 4 5 6"),
        ("yyyy'-'MM'-'dd", "2026-03-07"),
        ("'year='yyyy", "year=2026"),
        ("'o''clock' HH''", "o'clock 04'"),
        ("MMM MMMM EEE EEEE", "Mar March Sat Saturday"),
        ("D DDD hh a SSS", "66 066 04 AM 789"),
    ],
)
def test_java_date_time_formatter_patterns(pattern: str, expected: str) -> None:
    assert format_java(pattern, AT) == expected


def test_unsupported_pattern_letters_are_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported DateTimeFormatter letter 'Q'"):
        format_java("QQ", AT)


def test_prefix_expressions() -> None:
    template = "events/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    assert evaluate_prefix(template, AT) == "events/dt=2026-03-07/hour=04/"
    errors = "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/"
    assert evaluate_prefix(errors, AT, "format-conversion-failed") == (
        "errors/format-conversion-failed/2026/"
    )
    assert re.fullmatch(r"r/[a-z0-9]{11}/", evaluate_prefix("r/!{firehose:random-string}/", AT))
    with pytest.raises(ValueError, match="partitionKeyFromQuery"):
        evaluate_prefix("!{partitionKeyFromQuery:customer}/", AT)


def test_a_prefix_without_expressions_gets_the_default_hour_suffix() -> None:
    assert evaluate_prefix("raw/", AT) == "raw/2026/03/07/04/"
    assert evaluate_prefix("", AT) == "2026/03/07/04/"


def test_object_name() -> None:
    name = object_name("orders", "3", AT, ".parquet")
    assert re.fullmatch(r"orders-3-2026-03-07-04-05-06-[0-9a-f-]{36}\.parquet", name)


@pytest.mark.parametrize(
    ("hive", "arrow"),
    [
        ("string", pa.string()),
        ("varchar(20)", pa.string()),
        ("bigint", pa.int64()),
        ("int", pa.int32()),
        ("smallint", pa.int16()),
        ("tinyint", pa.int8()),
        ("double", pa.float64()),
        ("float", pa.float32()),
        ("boolean", pa.bool_()),
        ("timestamp", pa.timestamp("ms")),
        ("date", pa.date32()),
        ("decimal(10,2)", pa.decimal128(10, 2)),
        ("array<bigint>", pa.list_(pa.int64())),
        ("map<string, array<int>>", pa.map_(pa.string(), pa.list_(pa.int32()))),
        ("struct<a:int,b:string>", pa.struct([("a", pa.int32()), ("b", pa.string())])),
    ],
)
def test_hive_types(hive: str, arrow: pa.DataType) -> None:
    assert hive_type(hive).arrow == arrow


@pytest.mark.parametrize("hive", ["blob", "array<int", "map<string>", "struct<>"])
def test_invalid_hive_types(hive: str) -> None:
    with pytest.raises(ConversionError) as raised:
        hive_type(hive)
    assert raised.value.code == "DataFormatConversion.InvalidSchema"


@pytest.mark.parametrize(
    ("hive", "value", "converted"),
    [
        ("string", 12, "12"),
        ("string", {"a": [1]}, '{"a":[1]}'),
        ("bigint", "-42", -42),
        ("int", 2**31 - 1, 2**31 - 1),
        ("double", "1.25", 1.25),
        ("boolean", "TRUE", True),
        ("timestamp", 1700000000123, 1700000000123),
        ("timestamp", "1700000000123", 1700000000123),
        ("timestamp", "2024-01-02T03:04:05.678Z", 1704164645678),
        ("timestamp", "2024-01-02 05:04:05.678+02:00", 1704164645678),
        ("timestamp", "2024-01-02 03:04:05", 1704164645000),
        ("date", "2024-02-29", date(2024, 2, 29)),
        ("decimal(5,2)", 1.5, Decimal("1.50")),
        ("map<string,bigint>", {"x": "1", "y": None}, [("x", 1), ("y", None)]),
        ("struct<a:int,b:string>", {"A": 1}, {"a": 1, "b": None}),
    ],
)
def test_value_conversion(hive: str, value: object, converted: object) -> None:
    assert hive_type(hive).convert(value) == converted


@pytest.mark.parametrize(
    ("hive", "value"),
    [
        ("bigint", "abc"),
        ("bigint", 1.5),
        ("bigint", True),
        ("bigint", 2**63),
        ("int", 2**31),
        ("double", "x"),
        ("boolean", 1),
        ("boolean", "yes"),
        ("timestamp", "yesterday"),
        ("decimal(3,2)", 12.5),
        ("array<int>", {"a": 1}),
        ("map<string,int>", [1]),
    ],
)
def test_values_that_do_not_fit_are_malformed_data(hive: str, value: object) -> None:
    with pytest.raises(ConversionError) as raised:
        hive_type(hive).convert(value)
    assert raised.value.code == "DataFormatConversion.MalformedData"


def test_openx_serde_options() -> None:
    columns = [{"Name": "user_id", "Type": "bigint"}, {"Name": "name", "Type": "string"}]
    default = RecordConverter(columns, {})
    assert default.convert(b'{"USER_ID": 1, "Name": "x", "other": 2}\n') == [
        {"user_id": 1, "name": "x"}
    ]
    assert default.convert(b"{}") == [{"user_id": None, "name": None}]
    dots = RecordConverter(columns, {"ConvertDotsInJsonKeysToUnderscores": True})
    assert dots.convert(b'{"user.id": 2}') == [{"user_id": 2, "name": None}]
    mapped = RecordConverter(columns, {"ColumnToJsonKeyMappings": {"name": "login"}})
    assert mapped.convert(b'{"login": "y", "name": "z"}') == [{"user_id": None, "name": "y"}]
    strict = RecordConverter(columns, {"CaseInsensitive": False})
    assert strict.convert(b'{"NAME": "x", "name": "y"}') == [{"user_id": None, "name": "y"}]


@pytest.mark.parametrize(
    "record",
    [
        b'{"a":1}{"a":2}{"a":null}',
        b'{"a":1}\n{"a":2}\n{"a":null}\n',
        b' \r\n{"a":1} {"a":2}\t{"a":null}  ',
    ],
)
def test_a_record_of_concatenated_documents_is_a_row_per_document(record: bytes) -> None:
    converter = RecordConverter([{"Name": "a", "Type": "int"}], {})
    assert converter.convert(record) == [{"a": 1}, {"a": 2}, {"a": None}]


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (b"", "DataFormatConversion.ParseError"),
        (b"  \n", "DataFormatConversion.ParseError"),
        (b'{"a": 1} {"a": 2', "DataFormatConversion.ParseError"),
        (b'{"a": 1},{"a": 2}', "DataFormatConversion.ParseError"),
        (b'{"a": NaN}', "DataFormatConversion.ParseError"),
        (b"\xff\xfe", "DataFormatConversion.ParseError"),
        (b'"text"', "DataFormatConversion.MalformedData"),
        (b'[{"a": 1}, {"a": 2}]', "DataFormatConversion.MalformedData"),
        (b'{"a": 1}{"a": "x"}', "DataFormatConversion.MalformedData"),
        (b'{"a": 1} 7', "DataFormatConversion.MalformedData"),
    ],
)
def test_rejected_records(record: bytes, code: str) -> None:
    """A record is rejected whole: one bad document (or a JSON array) rejects its others too."""
    converter = RecordConverter([{"Name": "a", "Type": "int"}], {})
    with pytest.raises(ConversionError) as raised:
        converter.convert(record)
    assert raised.value.code == code


@pytest.mark.parametrize("compression", ["SNAPPY", "GZIP", "UNCOMPRESSED"])
def test_parquet_compression(compression: str) -> None:
    schema = pa.schema([("a", pa.int32())])
    body = parquet_bytes(schema, [{"a": 1}, {"a": None}], compression)
    parquet = pq.ParquetFile(io.BytesIO(body))
    assert parquet.metadata.row_group(0).column(0).compression == compression
    assert parquet.read().to_pylist() == [{"a": 1}, {"a": None}]


def test_unsupported_parquet_compression() -> None:
    with pytest.raises(ValueError, match="LZO"):
        parquet_bytes(pa.schema([("a", pa.int32())]), [], "LZO")
