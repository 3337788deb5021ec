"""Records replayed from an NDJSON file: sent as they are, keyed by the declared field."""

from __future__ import annotations

import io

import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.events.schema import compile_event_type
from producers.block import NO_TIME
from producers.file_source import BLOCK_LINES, FileSource
from tests.core.test_schema import TELEMETRY

TELEMETRY_TYPE = compile_event_type(TELEMETRY)


def read(text: bytes, **options):
    source = FileSource(TELEMETRY_TYPE, io.BytesIO(text), **options)
    blocks = list(source.blocks())
    return source, blocks


def test_lines_are_sent_unchanged_keyed_and_timed():
    text = (
        b'{"event_id":"a","device_id":"d1","device_type":"meter","ts":"2024-05-01T12:00:00Z"}\n'
        b'{"ts":"2024-05-01T14:00:01+02:00","device_id":"d2", "event_id":"b"}\r\n'
        b"\n"
        b"not json at all\n"
        b'{"event_id":"c","ts":"2024-05-01T12:00:02"}\n'
        b"[1, 2]"
    )
    source, (block,) = read(text)
    assert block.data == [line.rstrip(b"\r") for line in text.split(b"\n") if line.strip()]
    assert block.keys == ["d1", "d2", "line-4", "line-5", "line-6"]
    assert block.ts.tolist() == [1_714_564_800_000, 1_714_564_801_000, NO_TIME, NO_TIME, NO_TIME]
    counts = source.counts
    assert (counts.records, counts.not_json, counts.no_key, counts.blank) == (5, 2, 1, 1)


def test_another_partition_key_field():
    text = b'{"event_id":"a","device_id":"d1","ts":"2024-05-01T12:00:00Z"}\n'
    _, (block,) = read(text, partition_key="event_id")
    assert block.keys == ["a"]


def test_large_files_come_in_blocks_in_order():
    lines = [
        b'{"event_id":"%d","device_id":"d","ts":"2024-05-01T12:00:00Z"}' % i
        for i in range(BLOCK_LINES + 5)
    ]
    _, blocks = read(b"\n".join(lines) + b"\n")
    assert [len(b) for b in blocks] == [BLOCK_LINES, 5]
    assert [d for b in blocks for d in b.data] == lines


def test_a_line_too_large_for_kinesis_stops_with_its_line_number():
    text = b'{"event_id":"a","device_id":"d1","ts":"2024-05-01T12:00:00Z"}\n' + b"x" * 2**20
    with pytest.raises(PipelineError, match=r"<input>:2: a line of 1048576 bytes is too large"):
        read(text)
