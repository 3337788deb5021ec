"""Firehose delivery to S3 as AWS does it: buffered, converted to Parquet, under evaluated prefixes.

Stock moto writes each PutRecordBatch straight to one S3 object. The lake depends on what AWS
does instead: records wait in a per-stream buffer until ``BufferingHints`` (size or interval) or
an explicit flush, then become ONE object per flush, converted to Parquet with the Glue table's
schema when data format conversion is on; rejected records go to the error output prefix. moto's
``FirehoseBackend.put_s3_records`` (its only write path to S3) is replaced by :func:`install`.

A delivery that fails (no bucket, unsupported setting) is logged and its records are dropped;
AWS would retry for up to a day, but an emulator should fail loudly instead.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.firehose.models import DeliveryStream, FirehoseBackend
from moto.glue.exceptions import EntityNotFoundException
from moto.glue.models import glue_backends
from moto.s3.models import s3_backends

from pipeline.emulator.conversion import ConversionError, RecordConverter, parquet_bytes
from pipeline.emulator.prefixes import evaluate_prefix, object_name

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_SIZE_MB = 5
DEFAULT_CONVERSION_SIZE_MB = 128
DEFAULT_INTERVAL_S = 300
DEFAULT_ERROR_PREFIX = "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
FORMAT_CONVERSION_FAILED = "format-conversion-failed"
ENTITY_NOT_FOUND = "DataFormatConversion.EntityNotFound"


class FlushError(RuntimeError):
    """Some buffers could not be delivered (their records are dropped and logged)."""

    def __init__(self, failures: list[str], objects: int) -> None:
        super().__init__("; ".join(failures))
        self.objects = objects


@dataclass
class _Buffer:
    """The records one delivery stream holds until its next delivery."""

    account_id: str
    partition: str
    region: str
    stream: str
    version_id: str
    destination: dict[str, Any]
    records: list[tuple[bytes, float]] = field(default_factory=list)
    size: int = 0

    @property
    def conversion(self) -> dict[str, Any] | None:
        config = self.destination.get("DataFormatConversionConfiguration") or {}
        if config.get("Enabled", True) and config.get("SchemaConfiguration"):
            return config
        return None

    def full(self) -> bool:
        hints = self.destination.get("BufferingHints") or {}
        default = DEFAULT_CONVERSION_SIZE_MB if self.conversion else DEFAULT_SIZE_MB
        return self.size >= hints.get("SizeInMBs", default) * MIB

    def due(self, now: float) -> bool:
        hints = self.destination.get("BufferingHints") or {}
        return now - self.records[0][1] >= hints.get("IntervalInSeconds", DEFAULT_INTERVAL_S)


_lock = threading.Lock()
_buffers: dict[tuple[str, str, str], _Buffer] = {}


def _put_s3_records(
    self: FirehoseBackend,
    delivery_stream_name: str,
    version_id: str,
    s3_destination: dict[str, Any],
    records: list[dict[str, bytes]],
) -> list[dict[str, str]]:
    """Buffer the records; deliver at once if that fills the buffer (the size hint).

    Like AWS, the put succeeds even if that delivery fails (the failure is logged).
    """
    if not records:
        return []
    now = time.time()
    key = (self.account_id, self.region_name, delivery_stream_name)
    with _lock:
        buffer = _buffers.get(key)
        if buffer is None:
            buffer = _Buffer(
                self.account_id, self.partition, self.region_name, delivery_stream_name, "", {}
            )
            _buffers[key] = buffer
        buffer.version_id, buffer.destination = version_id, s3_destination
        for record in records:
            buffer.records.append((record["Data"], now))
            buffer.size += len(record["Data"])
        ready = [_buffers.pop(key)] if buffer.full() else []
    with contextlib.suppress(FlushError):
        _deliver_all(ready)
    return [{"RecordId": str(uuid.uuid4())} for _ in records]


def flush(stream: str | None = None) -> int:
    """Deliver every buffer now (or only ``stream``'s); returns the number of objects written."""
    with _lock:
        keys = [key for key in _buffers if stream is None or key[2] == stream]
        ready = [_buffers.pop(key) for key in keys]
    return _deliver_all(ready)


def flush_due(now: float) -> int:
    """Deliver the buffers whose ``IntervalInSeconds`` has elapsed since their first record."""
    with _lock:
        keys = [key for key, buffer in _buffers.items() if buffer.due(now)]
        ready = [_buffers.pop(key) for key in keys]
    return _deliver_all(ready)


def _deliver_all(buffers: list[_Buffer]) -> int:
    objects, failures = 0, []
    for buffer in buffers:
        try:
            objects += _deliver(buffer)
        except Exception as error:
            log.exception(
                "firehose delivery of %d records from %s failed; they are dropped",
                len(buffer.records),
                buffer.stream,
            )
            failures.append(f"{buffer.stream}: {error}")
    if failures:
        raise FlushError(failures, objects)
    return objects


def _deliver(buffer: _Buffer) -> int:
    """Write one buffer: one data object and, if records were rejected, one error object."""
    destination = buffer.destination
    at = datetime.fromtimestamp(buffer.records[0][1], tz=UTC)
    conversion = buffer.conversion
    errors: list[bytes] = []
    if conversion is None:
        body, extension = _raw_body(buffer)
    else:
        body, extension, errors = _converted_body(buffer, conversion)
    extension = destination.get("FileExtension") or extension
    objects = 0
    if body is not None:
        prefix = evaluate_prefix(destination.get("Prefix", ""), at)
        key = prefix + object_name(buffer.stream, buffer.version_id, at, extension)
        _put_object(buffer, key, body)
        objects += 1
    if errors:
        template = destination.get("ErrorOutputPrefix") or DEFAULT_ERROR_PREFIX
        prefix = evaluate_prefix(template, at, FORMAT_CONVERSION_FAILED)
        key = prefix + object_name(buffer.stream, buffer.version_id, at, "")
        _put_object(buffer, key, b"".join(errors))
        objects += 1
    log.debug("firehose %s delivered %d records", buffer.stream, len(buffer.records))
    return objects


def _raw_body(buffer: _Buffer) -> tuple[bytes, str]:
    """The records' bytes joined with no separator (as AWS), compressed per CompressionFormat."""
    body = b"".join(data for data, _ in buffer.records)
    compression = buffer.destination.get("CompressionFormat", "UNCOMPRESSED")
    if compression == "GZIP":
        return gzip.compress(body), ".gz"
    if compression != "UNCOMPRESSED":
        raise ValueError(f"CompressionFormat {compression} is not emulated")
    return body, ""


def _converted_body(
    buffer: _Buffer, conversion: dict[str, Any]
) -> tuple[bytes | None, str, list[bytes]]:
    """Parquet of the rows of the records that convert (None if none do; a record may carry
    several JSON documents, a row each) and an error line for each record that does not."""
    schema_config = conversion["SchemaConfiguration"]
    serializer = conversion.get("OutputFormatConfiguration", {}).get("Serializer", {})
    if "ParquetSerDe" not in serializer:
        raise ValueError(f"output format {sorted(serializer)} is not emulated (only ParquetSerDe)")
    deserializer = conversion.get("InputFormatConfiguration", {}).get("Deserializer", {})
    rows: list[dict[str, Any]] = []
    errors: list[bytes] = []
    try:
        converter = RecordConverter(_glue_columns(buffer, schema_config), _openx(deserializer))
    except ConversionError as error:
        errors = [_error_line(buffer, schema_config, record, error) for record in buffer.records]
        return None, "", errors
    for record in buffer.records:
        try:
            rows.extend(converter.convert(record[0]))
        except ConversionError as error:  # the whole record, every document in it
            errors.append(_error_line(buffer, schema_config, record, error))
    if not rows:
        return None, "", errors
    compression = serializer["ParquetSerDe"].get("Compression", "SNAPPY")
    return parquet_bytes(converter.schema, rows, compression), ".parquet", errors


def _openx(deserializer: dict[str, Any]) -> dict[str, Any]:
    """The OpenX SerDe's options (the Hive JSON SerDe behaves like OpenX's defaults here)."""
    return deserializer.get("OpenXJsonSerDe") or {}


def _glue_columns(buffer: _Buffer, schema_config: dict[str, Any]) -> list[dict[str, str]]:
    catalog = schema_config.get("CatalogId") or buffer.account_id
    glue = glue_backends[catalog][schema_config.get("Region") or buffer.region]
    version = schema_config.get("VersionId", "LATEST")
    try:
        table = glue.get_table(schema_config["DatabaseName"], schema_config["TableName"])
        description = table.as_dict(None if version == "LATEST" else version)
    except EntityNotFoundException as error:
        raise ConversionError(ENTITY_NOT_FOUND, error.message) from None
    return description["StorageDescriptor"]["Columns"]


def _error_line(
    buffer: _Buffer,
    schema_config: dict[str, Any],
    record: tuple[bytes, float],
    error: ConversionError,
) -> bytes:
    """One rejected record in the format Firehose writes under the error output prefix."""
    data, arrival = record
    catalog = schema_config.get("CatalogId") or buffer.account_id
    region = schema_config.get("Region") or buffer.region
    document = {
        "attemptsMade": 1,
        "arrivalTimestamp": round(arrival * 1000),
        "lastErrorCode": error.code,
        "lastErrorMessage": str(error),
        "attemptEndingTimestamp": round(time.time() * 1000),
        "rawData": base64.b64encode(data).decode("ascii"),
        "sequenceNumber": None,
        "subSequenceNumber": None,
        "dataCatalogTable": {
            "catalogId": catalog,
            "databaseName": schema_config.get("DatabaseName"),
            "tableName": schema_config.get("TableName"),
            "region": region,
            "versionId": schema_config.get("VersionId", "LATEST"),
            "catalogArn": f"arn:{buffer.partition}:glue:{region}:{catalog}:catalog",
        },
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"


def _put_object(buffer: _Buffer, key: str, body: bytes) -> None:
    bucket = buffer.destination["BucketARN"].split(":")[-1]
    s3_backends[buffer.account_id][buffer.partition].put_object(bucket, key, body)
    log.info("firehose %s wrote s3://%s/%s (%d bytes)", buffer.stream, bucket, key, len(body))


class FlushTimer:
    """Delivers buffers whose interval has elapsed, checking every ``tick_s`` on a daemon thread."""

    def __init__(self, tick_s: float = 0.2) -> None:
        self.tick_s = tick_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="firehose-flush", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self.tick_s):
            with contextlib.suppress(FlushError):  # logged with its traceback by _deliver_all
                flush_due(time.time())


#: AWS's default quota is 50 delivery streams per region (raised on request); one test session
#: provisions many pipelines side by side on one emulator.
EMULATOR_DELIVERY_STREAM_QUOTA = 5_000


def install() -> None:
    """Replace moto's write-through with the buffer (call via ``install_patches``)."""
    FirehoseBackend.put_s3_records = _put_s3_records
    DeliveryStream.MAX_STREAMS_PER_REGION = EMULATOR_DELIVERY_STREAM_QUOTA
