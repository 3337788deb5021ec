"""The MultiLangDaemon's ``processRecords`` lines framed in bulk.

amazon_kclpy parses every line with ``json.loads`` and an ``object_hook``, which builds a dict
and a ``Record`` (Python code) per record, and our adapter then decodes each record's base64
data with another call: per record, that costs more than the core's whole processing. Here a
``processRecords`` line is parsed in C (:mod:`consumers.kcl._framing`, compiled at install time)
straight into the raw records the core takes: no dict, no ``Record``, no Python code per record.

amazon_kclpy's protocol behaviour is kept: a line is framed only when it is a well-formed
``processRecords`` message whose every record has exactly the fields amazon_kclpy reads
(``action: "record"``, ``data`` in padded standard base64, ``partitionKey``, ``sequenceNumber``,
an integer ``subSequenceNumber`` and ``approximateArrivalTimestamp``), with strings free of
escapes and integers of at most 18 digits; anything else (every other action, a null
sub-sequence number, a float timestamp, lenient base64, a missing or an extra field: amazon_kclpy
reads every nested object as a message) goes to amazon_kclpy's own parser and dispatch,
unchanged. Tests compare both parsers.
"""

from __future__ import annotations

from typing import Any

from amazon_kclpy import messages
from amazon_kclpy.kcl import KCLProcess

from consumers.kcl._framing import parse
from pipeline.core.records import RawRecord


class FramedRecords(list[RawRecord]):
    """Records framed here: already the core's raw records (see ``adapter.raw_records``)."""


def framed(line: str | bytes) -> messages.ProcessRecordsInput | None:
    """The ``processRecords`` message of ``line`` with its records framed; None when the line
    is any other message, or one this framing leaves to amazon_kclpy."""
    parsed = parse(line, RawRecord)
    if parsed is None:
        return None
    records, behind = parsed
    return messages.ProcessRecordsInput(
        {
            "action": "processRecords",
            "records": FramedRecords(records),
            "millisBehindLatest": behind,
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
