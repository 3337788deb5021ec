"""Events: declared types (schema) and batch decoding into columns (decode)."""

from pipeline.core.events.decode import DecodedBatch, Decoder, Reject, decode_batch
from pipeline.core.events.schema import EventType, FieldSpec, compile_event_types

__all__ = [
    "DecodedBatch",
    "Decoder",
    "EventType",
    "FieldSpec",
    "Reject",
    "compile_event_types",
    "decode_batch",
]
