"""What the simulated sources share: a seeded run, stepped one chunk of simulated time at a time.

A source simulates its whole population for a chunk of simulated time at once (numpy), encodes
the chunk's records in bulk and yields them as one :class:`producers.block.Block`, so a large
fleet costs little Python per event. Everything derives from one seeded generator, drawn in a
fixed order: the same seed and options give the same records, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import numpy as np

from producers.block import Block

#: Event times are written with 13 digits: 2001-09-09 to 2286.
MIN_START_MS, MAX_START_MS = 10**12, 10**13 - 10**11
#: About this many events per chunk (bounds the matrices' memory for large populations).
CHUNK_EVENTS = 100_000

Event = TypeVar("Event")


class ChunkedSource(Generic[Event]):
    """A seeded simulation from ``start_ms``; subclasses set ``chunk_ms`` and ``_chunk``."""

    chunk_ms: int

    def __init__(self, seed: int, start_ms: int, decode: Callable[[bytes], Event]) -> None:
        if not MIN_START_MS <= start_ms < MAX_START_MS:
            raise ValueError("the start must be between 2001-09-09 and 2286")
        self.rng = np.random.default_rng(seed)
        self.start_ms = start_ms
        #: distinguishes this run's event ids from another seed's
        self.run_id = int(self.rng.integers(0, 2**63))
        self._decode = decode
        self._events = 0

    def blocks(self, until_ms: int) -> Iterator[Block]:
        """Every record with event time before ``until_ms``, in event-time order, by chunk."""
        t0 = self.start_ms
        while t0 < until_ms:
            t1 = min(t0 + self.chunk_ms, until_ms)
            yield self._chunk(t0, t1)
            t0 = t1

    def events(self, until_ms: int) -> Iterator[Event]:
        """The same events as objects (slow: for tests and small tools)."""
        for block in self.blocks(until_ms):
            yield from map(self._decode, block.data)

    def _chunk(self, t0: int, t1: int) -> Block:
        """The records of simulated time [t0, t1), in event-time order."""
        raise NotImplementedError

    def _next_numbers(self, n: int) -> np.ndarray:
        """The next ``n`` event numbers of the run (1, 2, ...): the unique part of event ids."""
        numbers = np.arange(self._events + 1, self._events + n + 1)
        self._events += n
        return numbers
