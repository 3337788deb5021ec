"""Events: the typed form of a record's payload, and the batch decoder that validates them."""

from pipeline.core.events.decode import DecodedBatch, Reject, decode_batch
from pipeline.core.events.schema import EVENT_TYPES, EventType, event_type

__all__ = ["EVENT_TYPES", "DecodedBatch", "EventType", "Reject", "decode_batch", "event_type"]
