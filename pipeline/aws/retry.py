"""Backoff for the partial failures that boto3's own retries do not cover.

boto3 retries whole calls (throttling, 5xx). Batch APIs also fail *per entry* inside a successful
call (PutRecords ``FailedRecordCount``, PutRecordBatch ``FailedPutCount``, BatchWriteItem
``UnprocessedItems``); those entries are retried here with capped exponential backoff and full
jitter (the AWS architecture blog's recommendation), a bounded number of times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter."""

    base_s: float = 0.05
    cap_s: float = 5.0
    max_attempts: int = 12
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = random.Random()  # noqa: RUF009 - shared jitter source is fine

    def pause(self, attempt: int) -> None:
        """Sleep before retry number ``attempt`` (1-based)."""
        self.sleep(self.rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1))))
