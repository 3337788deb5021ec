"""The MultiLangDaemon's ``processRecords`` lines framed in bulk.

amazon_kclpy parses every line with ``json.loads`` and an ``object_hook``, which builds a dict
and a ``Record`` (Python code) per record, and our adapter then decodes each record's base64
data with another call: per record, that costs more than the core's whole processing. Here a
``processRecords`` line is decoded by one msgspec call, JSON and base64 in C, into the raw
records the core takes (no dict, no ``Record``, no per-record Python code).

amazon_kclpy's protocol behaviour is kept: a line is framed only when it is a well-formed
``processRecords`` message whose every record has the fields amazon_kclpy reads
(``action: "record"``, strict base64 ``data``, ``partitionKey``, ``sequenceNumber``, an integer
``subSequenceNumber`` and ``approximateArrivalTimestamp``) and nothing more; anything else
(every other action, a null sub-sequence number, a float timestamp, lenient base64, a missing
or an extra field: amazon_kclpy's parser reads every nested object as a message) goes to
amazon_kclpy's own parser and dispatch, unchanged. Tests compare both parsers.
"""

from __future__ import annotations

from functools import partial
from operator import attrgetter
from typing import Any, Literal

import msgspec
from amazon_kclpy import messages
from amazon_kclpy.kcl import KCLProcess

from pipeline.core.records import RawRecord


class _Record(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    action: Literal["record"]
    data: bytes  # base64 in the JSON: decoded by msgspec
    partitionKey: str
    sequenceNumber: str
    subSequenceNumber: int
    approximateArrivalTimestamp: int


class _ProcessRecords(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    action: Literal["processRecords"]
    records: list[_Record]
    millisBehindLatest: int


class FramedRecords(list[RawRecord]):
    """Records framed here: already the core's raw records (see ``adapter.raw_records``)."""


_decode = msgspec.json.Decoder(_ProcessRecords).decode
_FIELDS = attrgetter(
    "data", "partitionKey", "sequenceNumber", "subSequenceNumber", "approximateArrivalTimestamp"
)
_RAW_RECORD = partial(tuple.__new__, RawRecord)
_MARK = '"processRecords"'


def framed(line: str | bytes) -> messages.ProcessRecordsInput | None:
    """The ``processRecords`` message of ``line`` with its records framed; None when the line
    is any other message, or one this framing leaves to amazon_kclpy."""
    if (_MARK if isinstance(line, str) else _MARK.encode()) not in line:
        return None
    try:
        message = _decode(line)
    except msgspec.DecodeError:  # ValidationError included
        return None
    records = FramedRecords(map(_RAW_RECORD, map(_FIELDS, message.records)))
    return messages.ProcessRecordsInput(
        {
            "action": message.action,
            "records": records,
            "millisBehindLatest": message.millisBehindLatest,
        }
    )


class FramedKCLProcess(KCLProcess):  # type: ignore[misc]
    """amazon_kclpy's ``KCLProcess`` with ``processRecords`` lines framed in bulk."""

    def _handle_a_line(self, line: Any) -> None:
        action = framed(line)
        if action is None:
            super()._handle_a_line(line)
            return
        self._perform_action(action)
        self._report_done(action.action)
