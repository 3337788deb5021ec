"""The MultiLangDaemon's ``processRecords`` lines framed in bulk.

amazon_kclpy parses every line with ``json.loads`` and an ``object_hook``, which builds a dict
and a ``Record`` (Python code) per record, and our adapter then decodes each record's base64
data with another call: per record, that costs more than the core's whole processing. Here a
``processRecords`` line is parsed in C (:mod:`consumers.kcl._framing`, compiled at install time)
straight into one :class:`~pipeline.core.records.RecordBatch`: the records' data (decoded),
partition keys and sequence numbers in one buffer, their spans and integers in one array. The
core scans the payloads in place and the events sink makes the lake rows from the buffer: no
Python object per record anywhere on the way (a record is built only when asked for: a dead
letter, a late event).

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
from pipeline.core.records import RecordBatch


def framed(line: str | bytes | memoryview) -> messages.ProcessRecordsInput | None:
    """The ``processRecords`` message of ``line`` with its records framed as one
    :class:`RecordBatch`; None when the line is any other message, or one this framing
    leaves to amazon_kclpy."""
    parsed = parse(line, RecordBatch)
    if parsed is None:
        return None
    records, behind = parsed
    return messages.ProcessRecordsInput(
        {"action": "processRecords", "records": records, "millisBehindLatest": behind}
    )


class LineReader:
    """The lines of a binary stream, read into one buffer kept from line to line.

    A ``processRecords`` line carries up to 10,000 records (megabytes). Read as new bytes each
    time (a text stream's readline gathers it 8 KiB at a time and decodes it; joining blocks
    copies it twice), every line is fresh memory: the C heap grows by a line and is trimmed
    after it, which page-faulted ~1,000 times a batch (``bench_kcl_protocol``). Here a line is
    read once, in place (:meth:`view`), into a buffer that only grows, to the longest line.
    ``readinto1`` returns what the pipe holds without waiting for a whole buffer: a line is
    returned as soon as it is complete (the daemon waits for our answer before writing more).
    """

    def __init__(self, stream: BinaryIO, size: int = 1 << 20) -> None:
        self._stream = stream
        self._buffer = bytearray(size)
        self._start = self._end = 0  # the bytes read and not yet returned: [start, end)

    def readline(self) -> bytes:
        """The next line as bytes (b"" at the end), for amazon_kclpy's reads."""
        return bytes(self.view())

    def view(self) -> memoryview:
        """The next line in place (empty at the end); its bytes stay as they are until the
        next read. The last line may lack its newline."""
        searched = 0  # how many bytes from the line's start hold no newline
        while True:
            end = self._buffer.find(b"\n", self._start + searched, self._end)
            if end >= 0:
                line = memoryview(self._buffer)[self._start : end + 1]
                self._start = end + 1
                return line
            searched = self._end - self._start
            if not self._fill():
                line = memoryview(self._buffer)[self._start : self._end]
                self._start = self._end
                return line

    def _fill(self) -> int:
        """Reads more after the unread bytes (0 at the end). Room is made by moving them to
        the front, or into a buffer twice the size when they fill more than half of it; the
        old buffer is never resized, so a line returned before keeps its bytes."""
        unread = self._end - self._start
        if self._end == len(self._buffer) or not unread:
            buffer = self._buffer
            if unread > len(buffer) // 2:
                buffer = bytearray(2 * len(buffer))
            buffer[:unread] = self._buffer[self._start : self._end]
            self._buffer, self._start, self._end = buffer, 0, unread
        with memoryview(self._buffer) as room:
            count = self._stream.readinto1(room[self._end :])
        self._end += count
        return count


class FramedKCLProcess(KCLProcess):  # type: ignore[misc]
    """amazon_kclpy's ``KCLProcess`` with ``processRecords`` lines framed in bulk.

    A text input (the child's ``sys.stdin``) is read through its binary buffer by a
    :class:`LineReader`, each message line in place: nothing may have been read from its text
    layer before.
    """

    def __init__(self, record_processor: Any, input_file: Any, *files: Any) -> None:
        if hasattr(input_file, "buffer"):
            input_file = input_file.buffer
        self._lines = LineReader(input_file) if hasattr(input_file, "readinto1") else None
        super().__init__(record_processor, self._lines or input_file, *files)

    def run(self) -> None:
        """amazon_kclpy's loop (a line at a time until the input ends), each line read in
        place; its reads inside a message (checkpoint answers) take bytes."""
        if self._lines is None:
            super().run()
            return
        while line := self._lines.view():
            self._handle_a_line(line)

    def _handle_a_line(self, line: Any) -> None:
        action = framed(line)
        if action is None:  # json.loads takes str and bytes, not a view
            super()._handle_a_line(bytes(line) if isinstance(line, memoryview) else line)
            return
        self._perform_action(action)
        self._report_done(action.action)
