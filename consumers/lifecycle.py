"""The record-processor lifecycle of the KCL (v3 multilang), as engine-neutral types.

The local engine builds these directly; the KCL adapter converts amazon_kclpy's messages into
them. Method for method, :class:`~consumers.processor.ShardProcessor` is what the
MultiLangDaemon drives: ``initialize``, ``process_records``, ``lease_lost``, ``shard_ended``,
``shutdown_requested``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pipeline.core.records import RawRecord

#: What the KCL passes to ``initialize`` for a shard never checkpointed, and after a shard ended.
UNCHECKPOINTED = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
SHARD_END = "SHARD_END"


class CheckpointFailed(Exception):
    """A checkpoint was refused; ``kind`` is the KCL exception name."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Checkpointer(Protocol):
    def checkpoint(
        self, sequence_number: str | None = None, sub_sequence_number: int | None = None
    ) -> None:
        """Record progress; ``None`` at shard end means SHARD_END. Raises CheckpointFailed."""


@dataclass(frozen=True)
class InitializeInput:
    shard_id: str
    sequence_number: str | None  # the checkpoint the lease holds, or one of UNCHECKPOINTED
    sub_sequence_number: int | None = None


@dataclass(frozen=True)
class ProcessRecordsInput:
    records: Sequence[RawRecord]  # a list, or a RecordBatch (framed by the KCL child)
    checkpointer: Checkpointer
    millis_behind_latest: int = 0


@dataclass(frozen=True)
class LeaseLostInput:
    pass


@dataclass(frozen=True)
class ShardEndedInput:
    checkpointer: Checkpointer


@dataclass(frozen=True)
class ShutdownRequestedInput:
    checkpointer: Checkpointer
