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

from typing import Any, BinaryIO

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


class LineReader:
    """The lines of a binary stream, as bytes, read in blocks of up to ``block`` bytes.

    A ``processRecords`` line carries up to 10,000 records (megabytes): a text stream's readline
    gathers it 8 KiB at a time, decoding as it goes, for a quarter of the child's per-record
    cost; here each line is one ``find`` and one copy. ``read1`` returns what the pipe holds
    without waiting for a whole block: a line is returned as soon as it is complete (the daemon
    waits for our answer before writing more).
    """

    def __init__(self, stream: BinaryIO, block: int = 1 << 20) -> None:
        self._stream, self._block = stream, block
        self._data, self._at = b"", 0

    def readline(self) -> bytes:
        parts = []
        while True:
            end = self._data.find(b"\n", self._at)
            if end >= 0:
                parts.append(self._data[self._at : end + 1])
                self._at = end + 1
                return parts[0] if len(parts) == 1 else b"".join(parts)
            parts.append(self._data[self._at :])
            self._data, self._at = self._stream.read1(self._block), 0
            if not self._data:  # the end: the last line, without its newline, or b""
                return b"".join(parts)


class FramedKCLProcess(KCLProcess):  # type: ignore[misc]
    """amazon_kclpy's ``KCLProcess`` with ``processRecords`` lines framed in bulk.

    A text input (the child's ``sys.stdin``) is read through its binary buffer by a
    :class:`LineReader`: nothing may have been read from its text layer before.
    """

    def __init__(self, record_processor: Any, input_file: Any, *files: Any) -> None:
        if hasattr(input_file, "buffer"):
            input_file = input_file.buffer
        if hasattr(input_file, "read1"):
            input_file = LineReader(input_file)
        super().__init__(record_processor, input_file, *files)

    def _handle_a_line(self, line: Any) -> None:
        action = framed(line)
        if action is None:
            super()._handle_a_line(line)
            return
        self._perform_action(action)
        self._report_done(action.action)
