"""The KCL child's msgspec framing builds the same amazon_kclpy messages as json.loads."""

from __future__ import annotations

import json

from amazon_kclpy import dispatch

from consumers.kcl.framing import _MsgspecJson

LINES = [
    {
        "action": "initialize",
        "shardId": "shardId-000000000001",
        "sequenceNumber": "TRIM_HORIZON",
        "subSequenceNumber": 0,
    },
    {
        "action": "processRecords",
        "millisBehindLatest": 12,
        "records": [
            {
                "action": "record",
                "data": "eyJhIjogMX0=",
                "partitionKey": "k\u00e9",
                "sequenceNumber": "49",
                "subSequenceNumber": 3,
                "approximateArrivalTimestamp": 1767225600000,
            },
            {
                "action": "record",
                "data": "",
                "partitionKey": "x",
                "sequenceNumber": "50",
                "subSequenceNumber": 0,
                "approximateArrivalTimestamp": 1767225600001,
            },
        ],
    },
    {
        "action": "checkpoint",
        "sequenceNumber": "50",
        "subSequenceNumber": None,
        "error": "ThrottlingException",
    },
    {"action": "leaseLost"},
    {"action": "shardEnded"},
    {"action": "shutdownRequested"},
]


def describe(message):
    """Every public attribute a processor reads, records included."""
    out = {"type": type(message).__name__}
    for name in (
        "shard_id",
        "sequence_number",
        "sub_sequence_number",
        "millis_behind_latest",
        "error",
        "action",
    ):
        if hasattr(type(message), name):
            out[name] = getattr(message, name)
    if hasattr(type(message), "records"):
        out["records"] = [
            (
                r.binary_data,
                r.partition_key,
                r.sequence_number,
                r.sub_sequence_number,
                r.timestamp_millis,
            )
            for r in message.records
        ]
    return out


def test_every_action_parses_to_the_same_message():
    for line in LINES:
        text = json.dumps(line)
        expected = json.loads(text, object_hook=dispatch.message_decode)
        got = _MsgspecJson.loads(text, object_hook=dispatch.message_decode)
        assert describe(got) == describe(expected), line["action"]
