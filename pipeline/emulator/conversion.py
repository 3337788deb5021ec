"""Record format conversion: JSON records -> typed rows of a Glue table -> one Parquet file.

This is what Firehose's data format conversion does with the OpenX JSON SerDe: a record holds one
JSON object or several concatenated ones (``{"a":1}{"a":2}``, whitespace between them allowed; a
JSON array is not an object), each a row; keys match the table's columns case-insensitively, a
missing key is null, a key without a column is ignored, and a record with a document that does
not parse or whose value does not fit its column's Hive type is rejected whole (it goes to the
error output, not into the file). The lake's
reports read these files, so the types here are the Glue schema's, not whatever JSON implied.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

Convert = Callable[[Any], Any]

PARSE_ERROR = "DataFormatConversion.ParseError"
MALFORMED_DATA = "DataFormatConversion.MalformedData"
INVALID_SCHEMA = "DataFormatConversion.InvalidSchema"
PARQUET_CODECS = {"SNAPPY": "snappy", "GZIP": "gzip", "UNCOMPRESSED": "none"}

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_INTEGERS = {
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
}


class ConversionError(Exception):
    """A record Firehose would not convert; ``code`` is its ``lastErrorCode``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class HiveType:
    """A Glue/Hive column type: its Arrow type and how a JSON value becomes one."""

    arrow: pa.DataType
    convert: Convert


def _mismatch(value: Any, type_name: str) -> ConversionError:
    return ConversionError(MALFORMED_DATA, f"cannot convert {json.dumps(value)} to {type_name}")


def _reject_constant(token: str) -> None:
    """JSON has no NaN or Infinity; Jackson (behind the OpenX SerDe) rejects them too."""
    raise ValueError(f"Non-standard token '{token}'")


def _to_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _integer(bits: int, name: str) -> Convert:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _mismatch(value, name)
        try:
            number = int(value)
        except ValueError:
            raise _mismatch(value, name) from None
        if not low <= number <= high:
            raise _mismatch(value, name)
        return number

    return convert


def _real(name: str) -> Convert:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _mismatch(value, name)
        try:
            return float(value)
        except ValueError:
            raise _mismatch(value, name) from None

    return convert


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _mismatch(value, "boolean")


def _timestamp_ms(value: Any) -> int:
    """Epoch milliseconds (a number or a string of digits) or ISO-8601 text, as UTC millis."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _mismatch(value, "timestamp") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return round(parsed.timestamp() * 1000)
    raise _mismatch(value, "timestamp")


def _date(value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise _mismatch(value, "date") from None


def _decimal(precision: int, scale: int) -> Convert:
    name = f"decimal({precision},{scale})"

    def convert(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _mismatch(value, name)
        try:
            number = Decimal(str(value)).quantize(Decimal(1).scaleb(-scale))
        except InvalidOperation:
            raise _mismatch(value, name) from None
        if len(number.as_tuple().digits) > precision:
            raise _mismatch(value, name)
        return number

    return convert


def _array(element: HiveType) -> Convert:
    def convert(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _mismatch(value, "array")
        return [None if item is None else element.convert(item) for item in value]

    return convert


def _map(key: HiveType, item: HiveType) -> Convert:
    def convert(value: Any) -> list[tuple[Any, Any]]:
        if not isinstance(value, dict):
            raise _mismatch(value, "map")
        return [(key.convert(k), None if v is None else item.convert(v)) for k, v in value.items()]

    return convert


def _struct(fields: dict[str, HiveType]) -> Convert:
    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _mismatch(value, "struct")
        lowered = {k.lower(): v for k, v in value.items()}
        return {
            name: None if lowered.get(name) is None else field.convert(lowered[name])
            for name, field in fields.items()
        }

    return convert


def _primitive(name: str, params: list[int]) -> HiveType:
    if name in ("string", "varchar", "char"):
        return HiveType(pa.string(), _to_string)
    if name in _INTEGERS:
        arrow = _INTEGERS[name]
        return HiveType(arrow, _integer(arrow.bit_width, name))
    if name in ("double", "float"):
        return HiveType(pa.float64() if name == "double" else pa.float32(), _real(name))
    if name == "decimal":
        precision, scale = (params + [10, 0][len(params) :])[:2]
        return HiveType(pa.decimal128(precision, scale), _decimal(precision, scale))
    simple = {
        "boolean": HiveType(pa.bool_(), _boolean),
        "timestamp": HiveType(pa.timestamp("ms"), _timestamp_ms),
        "date": HiveType(pa.date32(), _date),
    }
    if name not in simple:
        raise ConversionError(INVALID_SCHEMA, f"unsupported Hive type {name!r}")
    return simple[name]


def _parse(text: str, i: int) -> tuple[HiveType, int]:
    """Recursive descent over a Hive type string (lower case, no spaces) from position ``i``."""
    match = _NAME.match(text, i)
    if match is None:
        raise ConversionError(INVALID_SCHEMA, f"bad Hive type {text!r} at {i}")
    name, i = match.group(0), match.end()
    if name in ("array", "map", "struct"):
        children: list[tuple[str, HiveType]] = []
        while text[i : i + 1] in ("<", ","):
            label = ""
            if name == "struct":
                field = _NAME.match(text, i + 1)
                if field is None or text[field.end() : field.end() + 1] != ":":
                    raise ConversionError(INVALID_SCHEMA, f"bad struct type {text!r}")
                label, i = field.group(0), field.end()
            child, i = _parse(text, i + 1)
            children.append((label, child))
        arity = {"array": 1, "map": 2}.get(name, len(children))
        if text[i : i + 1] != ">" or not children or len(children) != arity:
            raise ConversionError(INVALID_SCHEMA, f"bad {name} type {text!r}")
        types = [child for _, child in children]
        if name == "array":
            return HiveType(pa.list_(types[0].arrow), _array(types[0])), i + 1
        if name == "map":
            return HiveType(pa.map_(types[0].arrow, types[1].arrow), _map(*types)), i + 1
        arrow = pa.struct([(label, child.arrow) for label, child in children])
        return HiveType(arrow, _struct(dict(children))), i + 1
    params: list[int] = []
    if text[i : i + 1] == "(":
        end = text.index(")", i)
        params = [int(part) for part in text[i + 1 : end].split(",")]
        i = end + 1
    return _primitive(name, params), i


def hive_type(text: str) -> HiveType:
    """The :class:`HiveType` of a Glue column type such as ``bigint`` or ``map<string,string>``."""
    compact = re.sub(r"\s+", "", text.lower())
    parsed, end = _parse(compact, 0)
    if end != len(compact):
        raise ConversionError(INVALID_SCHEMA, f"bad Hive type {text!r}")
    return parsed


class RecordConverter:
    """Converts records for one Glue table with the OpenX JSON SerDe's options."""

    def __init__(self, columns: list[dict[str, str]], openx: dict[str, Any]) -> None:
        self.types = {column["Name"]: hive_type(column["Type"]) for column in columns}
        self.schema = pa.schema([(name, kind.arrow) for name, kind in self.types.items()])
        self.case_insensitive = openx.get("CaseInsensitive", True)
        self.dots_to_underscores = openx.get("ConvertDotsInJsonKeysToUnderscores", False)
        mappings = openx.get("ColumnToJsonKeyMappings") or {}
        self.json_keys = {name: self._key(mappings.get(name, name)) for name in self.types}

    def _key(self, key: str) -> str:
        if self.dots_to_underscores:
            key = key.replace(".", "_")
        return key.lower() if self.case_insensitive else key

    def convert(self, data: bytes) -> list[dict[str, Any]]:
        """One record -> its rows, one per document; raises :class:`ConversionError` (for the
        whole record) as Firehose would reject it."""
        try:
            documents = _documents(data.decode("utf-8"))
        except ValueError as error:
            raise ConversionError(PARSE_ERROR, f"Encountered malformed JSON. {error}") from None
        return [self._row(document) for document in documents]

    def _row(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ConversionError(MALFORMED_DATA, "The record is not a JSON object")
        fields = {self._key(key): item for key, item in value.items()}
        row = {}
        for name, kind in self.types.items():
            item = fields.get(self.json_keys[name])
            try:
                row[name] = None if item is None else kind.convert(item)
            except ConversionError as error:
                raise ConversionError(error.code, f"column {name!r}: {error}") from None
        return row


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _documents(text: str) -> list[Any]:
    """The JSON documents concatenated in ``text`` (at least one; whitespace may separate them)."""
    documents = []
    position = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    while True:
        document, position = _DECODER.raw_decode(text, position)
        documents.append(document)
        position = _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]
        if position == len(text):
            return documents


def parquet_bytes(schema: pa.Schema, rows: list[dict[str, Any]], compression: str) -> bytes:
    """One Parquet file of ``rows``; ``compression`` is ParquetSerDe's (SNAPPY by default)."""
    if compression not in PARQUET_CODECS:
        raise ValueError(f"unsupported ParquetSerDe compression {compression!r}")
    buffer = io.BytesIO()
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, buffer, compression=PARQUET_CODECS[compression])
    return buffer.getvalue()
