"""processRecords lines framed in bulk (consumers/kcl/framing.py) against amazon_kclpy's own
parser: the same raw records whenever the framing takes a line, and amazon_kclpy's handling of
every line it leaves; the same protocol conversation through both processes."""

from __future__ import annotations

import base64
import binascii
import io
import json

import msgspec
from amazon_kclpy.kcl import KCLProcess, _IOHandler
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.kcl._framing import simd
from consumers.kcl.adapter import KclRecordProcessor, raw_records
from consumers.kcl.framing import FramedKCLProcess, LineReader, framed
from pipeline.testing import MemorySink, iot_event
from tests.kcl.fakes import memory_processor
from tests.kcl.test_protocol import checkpoint_reply, initialize, process, record

_daemon = _IOHandler(None, None, None)

#: A record as the daemon writes it, then one change that may or may not suit the framing.
CHANGES = st.sampled_from(
    [
        {},
        {"subSequenceNumber": None},
        {"subSequenceNumber": 7},
        {"approximateArrivalTimestamp": 1.767225600123e12},
        {"approximateArrivalTimestamp": "1767225600000"},
        {"data": "YQ"},  # unpadded: amazon_kclpy's b64decode refuses it too
        {"data": "Y Q=="},  # b64decode skips the space; the framing leaves it to amazon_kclpy
        {"partitionKey": 'k\u00e9y"\\\n'},
        {"sequenceNumber": 49_000},
        {"action": "other"},
        {"extra": {"nested": [1, 2]}},
        {"subSequenceNumber": -3},
        {"approximateArrivalTimestamp": 10**19},  # more digits than the C parser reads
        {"data": "YR=="},  # padding bits set: ignored by both
        {"data": "YQ==YQ=="},
        {"data": "=QQQ"},
        {"data": "\u0059Q=="},
        {"data": "QUJDRE$G"},  # a byte outside the alphabet inside a whole quad
        {"data": "QUJD=EVG"},  # padding inside the text
        {"data": "QUJDREVGR0g="},  # whole quads, then a padded one
    ]
)


@st.composite
def records(draw, ordered: bool = False):
    payload = draw(st.binary(max_size=40))
    message = {
        "action": "record",
        "data": base64.b64encode(payload).decode(),
        # as the daemon's lines hold them: mostly keys needing no escape
        "partitionKey": draw(st.text("ab-1", max_size=5) if ordered else st.text(max_size=5)),
        "sequenceNumber": str(draw(st.integers(0, 2**128))),
        "subSequenceNumber": draw(st.integers(0, 2**40)),
        "approximateArrivalTimestamp": draw(st.integers(0, 2**45)),
    }
    if not ordered or draw(st.integers(0, 9)) == 0:
        message.update(draw(CHANGES))
    if draw(st.integers(0, 29 if ordered else 9)) == 0:
        del message[draw(st.sampled_from(sorted(message)))]
    if ordered:  # as the daemon writes them
        return message
    return dict(draw(st.permutations(list(message.items()))))  # in any order


def amazon_kclpy(line: str):
    """What amazon_kclpy and the adapter make of ``line``: (records, millis) or the error."""
    try:
        action = _daemon.load_action(line)
        return raw_records(action.records), action.millis_behind_latest
    except Exception as exc:
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(st.lists(records(), max_size=6), st.integers(0, 10**9), st.booleans())
def test_a_framed_line_holds_what_amazon_kclpys_parser_reads_from_it(messages, behind, spaced):
    message = dict(reversed(process(*messages, behind=behind).items()))
    line = json.dumps(message, separators=None if spaced else (",", ":"), ensure_ascii=spaced)
    ours = framed(line)
    if ours is None:  # left to amazon_kclpy's own parser, whatever it makes of the line
        return
    assert amazon_kclpy(line) == (list(ours.records), ours.millis_behind_latest)
    assert ours.action == "processRecords" and framed(line.encode()) is not None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(records(ordered=True), st.sampled_from([", ", ","])), min_size=2, max_size=6)
)
def test_records_written_as_the_first_of_their_line_read_as_amazon_kclpy_reads_them(rows):
    """After a line's first record, records written alike (the same text around the values)
    are read by comparing that text; any record written otherwise is read field by field."""
    items = [json.dumps(r, separators=(comma, ": ")) for r, comma in rows]
    line = '{"action": "processRecords", "records": [' + ", ".join(items) + "]"
    line += ', "millisBehindLatest": 5}'
    ours = framed(line)
    if ours is not None:
        assert amazon_kclpy(line) == (list(ours.records), 5)


def test_a_record_written_otherwise_than_the_first_is_read_field_by_field():
    first, second, third = (record(i, iot_event(i, 0)) for i in (1, 2, 3))
    items = [json.dumps(first), json.dumps(second, separators=(",", ":")), json.dumps(third)]
    line = '{"action": "processRecords", "records": [' + ", ".join(items) + "]"
    line += ', "millisBehindLatest": 0}'
    assert [r.sequence_number for r in framed(line).records] == ["1", "2", "3"]
    assert amazon_kclpy(line) == (list(framed(line).records), 0)
    quoted = dict(third, partitionKey='k"y')  # written alike, but for an escape in a value
    line = line.replace(json.dumps(third), json.dumps(quoted))
    assert framed(line) is None and amazon_kclpy(line)[0][2].partition_key == 'k"y'


def test_well_formed_lines_are_framed_and_other_messages_are_not():
    line = json.dumps(process(record(1, iot_event(1, 0)), record(2, b"\x00\xff", sub=3)))
    (first, second) = framed(line).records
    assert first.data == msgspec.json.encode(iot_event(1, 0)) and first.sub_sequence_number == 0
    assert (second.data, second.sequence_number, second.sub_sequence_number) == (
        b"\x00\xff",
        "2",
        3,
    )
    assert framed(json.dumps(initialize())) is None
    assert framed(json.dumps(checkpoint_reply("5"))) is None


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: What may replace a base64 character in a string the framing reads (no quote, no backslash;
#: from 128 on, as a lone byte: the daemon writes UTF-8, but the decoder sees bytes)
NOT_BASE64 = [chr(c) for c in range(32, 256) if chr(c) not in ALPHABET + '"\\']


#: The decoders this CPU runs: AVX2 (where it has it) and the scalar one
DECODERS = [True, False] if simd() else [False]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300).flatmap(lambda size: st.binary(min_size=size, max_size=size)),
            st.integers(0, 10**6),
            st.one_of(st.none(), st.sampled_from(NOT_BASE64)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_data_decodes_as_strict_base64_does_in_every_decoder(cases):
    """Payloads of every length (the AVX2 decoder takes 32 characters a step, the rest two
    quads), some with one character replaced anywhere: a line is framed only when every data
    string is strict base64, into exactly its bytes."""
    texts = []
    for payload, place, replacement in cases:
        text = base64.b64encode(payload).decode()
        if replacement is not None and text:
            at = place % len(text)
            text = text[:at] + replacement + text[at + 1 :]
        texts.append(text)
    messages = (dict(record(i, b""), data=t) for i, t in enumerate(texts, 1))
    line = json.dumps(process(*messages), ensure_ascii=False).encode("latin-1")
    try:
        wanted = [binascii.a2b_base64(t.encode("latin-1"), strict_mode=True) for t in texts]
    except binascii.Error:
        wanted = None
    try:
        for avx2 in DECODERS:
            simd(avx2)
            ours = framed(line)
            assert (ours and [r.data for r in ours.records]) == wanted
    finally:
        simd(True)
    if ours is not None:
        assert amazon_kclpy(line.decode()) == (list(ours.records), ours.millis_behind_latest)


def test_every_byte_anywhere_in_a_block_of_32_characters_is_told_apart():
    """The decoders' tables, exhaustively: each of the 256 byte values at each place of the
    first 32 characters (the AVX2 decoder's step) frames the line exactly when it is a base64
    character, into the bytes ``binascii`` reads."""
    template = json.dumps(process(dict(record(1, b""), data="@"))).encode()
    head, tail = template.split(b"@")
    for avx2 in DECODERS:
        simd(avx2)
        try:
            for at in range(32):
                for byte in set(range(256)) - {ord('"'), ord("\\")}:
                    # whole quads (the byte in the first 32 characters), then a padded one
                    text = b"QUJD" * 32 + b"QQ=="
                    text = text[:at] + bytes([byte]) + text[at + 1 :]
                    ours = framed(head + text + tail)
                    if chr(byte) in ALPHABET:
                        wanted = binascii.a2b_base64(text, strict_mode=True)
                        assert ours is not None and ours.records[0].data == wanted
                    else:
                        assert ours is None, (avx2, at, byte)
        finally:
            simd(True)


def converse(process_class) -> tuple[str, MemorySink]:
    sink = MemorySink()
    messages = [
        initialize(),
        process(*(record(i, iot_event(i % 30, 1_767_225_600_000 + i)) for i in range(1, 41))),
        checkpoint_reply("40"),
        {"action": "shardEnded"},
        checkpoint_reply(None),
    ]
    # as the child's sys.stdin: text over a binary stream (the framed process reads the latter)
    text = "".join(json.dumps(m) + "\n" for m in messages)
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(text.encode())), encoding="utf-8")
    out = io.StringIO()
    process_class(KclRecordProcessor(memory_processor(sink)), stdin, out, io.StringIO()).run()
    return out.getvalue(), sink


def test_the_framed_process_holds_the_same_conversation_as_amazon_kclpys():
    framed_out, framed_sink = converse(FramedKCLProcess)
    plain_out, plain_sink = converse(KCLProcess)
    assert framed_out == plain_out and '"action": "checkpoint"' in framed_out
    assert framed_sink.events == plain_sink.events and len(framed_sink.events) == 30
    assert framed_sink.results == plain_sink.results


class Pipe:
    """What the daemon has written so far, in the pieces a read gets; reading on would block
    (the daemon waits for the child's answer) until the input ends."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces, self.ended = list(pieces), False

    def readinto1(self, room: memoryview) -> int:
        assert self.pieces or self.ended, "read past what was written: the child would hang"
        if not self.pieces:
            return 0
        piece = self.pieces.pop(0)
        if len(piece) > len(room):  # the rest stays in the pipe
            piece, rest = piece[: len(room)], piece[len(room) :]
            self.pieces.insert(0, rest)
        room[: len(piece)] = piece
        return len(piece)


def test_a_line_is_read_as_soon_as_it_is_whole_whatever_the_pieces():
    pipe = Pipe(b'{"a": 1}\n{"b"', b": 2}", b'\n{"c": 3}\n{"d":', b" 4}")
    reader = LineReader(pipe)  # type: ignore[arg-type]
    assert [reader.readline() for _ in range(3)] == [b'{"a": 1}\n', b'{"b": 2}\n', b'{"c": 3}\n']
    pipe.ended = True
    assert [reader.readline(), reader.readline()] == [b'{"d": 4}', b""]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    st.lists(st.integers(1, 50), min_size=1, max_size=8),
    st.integers(1, 16),
)
def test_lines_longer_than_the_buffer_and_pieces_of_any_size_read_whole(lines, cuts, size):
    """The buffer starts small (``size``): it grows, and moves what is unread to its front,
    and every line still comes out whole."""
    text = b"".join(line + b"\n" for line in lines)
    pieces, at = [], 0
    for cut in cuts * (len(text) // max(sum(cuts), 1) + 1):
        if at < len(text):
            pieces.append(text[at : at + cut])
            at += cut
    pipe = Pipe(*pieces)
    pipe.ended = True
    reader = LineReader(pipe, size)  # type: ignore[arg-type]
    got = []
    while view := reader.view():
        got.append(bytes(view))
    assert got == [line + b"\n" for line in lines]
