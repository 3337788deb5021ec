"""Chaos injection: what the producer does to the clean event stream, labelled in the truth.

Each anomaly is labelled on the record that carries it, so the ground truth says what a correct
consumer must do with it (the consumer's allowed lateness is ``lateness_ms``):

* ``duplicate_of``: an exact copy of an earlier record (same bytes, same partition key), re-sent
  once the stream's event time is more than the lateness (and at most
  ``MAX_DUPLICATE_DELAY_MS``) past the original (a retry): dropped by dedupe, whose horizon
  (10 m by default) is far longer;
* ``out_of_order``: an event held back by 1 ms to ``max_disorder_ms`` (below the lateness):
  counted normally;
* ``late``: an event re-timed ``lateness_ms + LATE_MARGIN_MS`` into the past and sent under its
  own partition key, only when that key's previous record (clean, under its own key) is at most
  ``LATE_RECENT_MS`` older: the shard has then seen an event newer than the late event's window
  end plus the lateness, for any window up to 5 minutes: reported late, never counted;
* ``malformed``: a record that is not a valid event, of one of the kinds of
  :mod:`producers.malformed`: dead-lettered;
* ``hot_key``: sent under one hot partition key instead of its own (load skew): counted normally.

The labels hold for the order records are sent in; :mod:`producers.batching` keeps them true
when puts are retried. Injection is vectorised per block and draws from its own seeded
generator: the same seed and rates give the same records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import msgspec
import numpy as np

from pipeline.core.events.schema import EventType
from producers.block import NO_TIME, Block, Outgoing
from producers.malformed import malformed, malformed_kinds

__all__ = ["ChaosOptions", "Outgoing", "inject"]

#: The longest event-time delay of a duplicate (a producer's retry, seconds later).
MAX_DUPLICATE_DELAY_MS = 60_000
#: How far behind its window's close a late event is made (plus the lateness).
LATE_MARGIN_MS = 600_000
#: A late event needs its key's previous record to be at most this much older.
LATE_RECENT_MS = 300_000
HOT_KEY = "hot-key-0"
#: The simulated fleets' allowed lateness and longest hold-back (their jobs in
#: pipeline/defaults.toml); other sources derive theirs from their type's jobs.
DEFAULT_LATENESS_MS = {"iot": 30_000, "web": 2_000}
DEFAULT_DISORDER_MS = {"iot": 10_000, "web": 1_000}


@dataclass(frozen=True)
class ChaosOptions:
    """Rates in [0, 1]; durations in ms (``None``: the source's default, see :meth:`resolve`)."""

    duplicates: float = 0.0
    out_of_order: float = 0.0
    max_disorder_ms: int | None = None
    late: float = 0.0
    lateness_ms: int | None = None
    malformed: float = 0.0
    hot_keys: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicates", "out_of_order", "late", "malformed", "hot_keys"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be a rate between 0 and 1, got {rate}"
                )
        if self.out_of_order + self.late + self.malformed > 1.0:
            raise ValueError("--out-of-order, --late and --malformed must not add up to over 1")
        if (self.max_disorder_ms or 0) < 0 or (self.lateness_ms or 0) < 0:
            raise ValueError("--max-disorder and --lateness must not be negative")

    def resolve(self, lateness_ms: int, disorder_ms: int) -> ChaosOptions:
        """These options with the given default durations filled in where unset, checked."""
        resolved = replace(
            self,
            max_disorder_ms=disorder_ms if self.max_disorder_ms is None else self.max_disorder_ms,
            lateness_ms=lateness_ms if self.lateness_ms is None else self.lateness_ms,
        )
        if resolved.out_of_order and resolved.disorder_ms >= resolved.allowed_lateness_ms:
            raise ValueError(
                f"--max-disorder ({resolved.disorder_ms} ms) must be below --lateness "
                f"({resolved.allowed_lateness_ms} ms): out-of-order events must still be on time"
            )
        return resolved

    @property
    def disorder_ms(self) -> int:
        return _resolved(self.max_disorder_ms, "--max-disorder")

    @property
    def allowed_lateness_ms(self) -> int:
        return _resolved(self.lateness_ms, "--lateness")

    @property
    def active(self) -> bool:
        return any((self.duplicates, self.out_of_order, self.late, self.malformed, self.hot_keys))


def _resolved(duration_ms: int | None, option: str) -> int:
    if duration_ms is None:
        raise ValueError(f"{option} has no value yet: resolve() the options for a source")
    return duration_ms


def inject(
    blocks: Iterable[Block], options: ChaosOptions, seed: int, etype: EventType
) -> Iterator[Block]:
    """Clean blocks in event-time order -> the blocks to send, chaos included and labelled."""
    if not options.active:
        yield from blocks
        return
    injector = _Injector(options, seed, etype)
    for block in blocks:
        yield injector.block(block)
    yield injector.rest()


_decode = msgspec.json.decode
_encode = msgspec.json.encode


class _Queue:
    """Records waiting to be sent, with their due times and insertion order."""

    def __init__(self) -> None:
        self.records = Block.empty()
        self.due = np.zeros(0, np.int64)
        self.order = np.zeros(0, np.int64)

    def add(self, records: Block, due: np.ndarray, first_order: int) -> None:
        self.records = Block.concat([self.records, records])
        self.due = np.concatenate([self.due, due])
        self.order = np.concatenate([self.order, first_order + np.arange(len(records))])

    def pop(self, ready: np.ndarray) -> tuple[Block, np.ndarray]:
        """The ready records (and their order); the others stay."""
        taken, order = self.records.take(np.flatnonzero(ready)), self.order[ready]
        keep = np.flatnonzero(~ready)
        self.records, self.due, self.order = (
            self.records.take(keep),
            self.due[keep],
            self.order[keep],
        )
        return taken, order


class _Injector:
    def __init__(self, options: ChaosOptions, seed: int, etype: EventType) -> None:
        self.o = options
        self.etype = etype
        self.kinds = malformed_kinds(etype)
        self.rng = np.random.default_rng([seed, 0x5EEDC4A0])
        self.held = _Queue()  # out of order: sent before the first event at or past their due
        self.copies = _Queue()  # duplicates: sent after the first event at or past their due
        self.orders = 0
        self.last_own = np.full(0, NO_TIME, np.int64)  # by key code: latest in-place own record

    def block(self, block: Block) -> Block:
        n, o, rng = len(block), self.o, self.rng
        if block.codes is None:
            raise ValueError("chaos needs the source's key codes")
        draw = rng.random(n)
        kinds = rng.integers(0, len(self.kinds), n)
        hot = rng.random(n) < o.hot_keys
        copy = rng.random(n) < o.duplicates
        disorder = rng.integers(1, o.disorder_ms + 1, n)
        least = o.allowed_lateness_ms + 1
        delay = rng.integers(least, max(least, MAX_DUPLICATE_DELAY_MS) + 1, n)

        bad = draw < o.malformed
        late = (draw >= o.malformed) & (draw < o.malformed + o.late)
        held = (draw >= o.malformed + o.late) & (draw < o.malformed + o.late + o.out_of_order)
        hot &= ~bad & ~late
        own = ~bad & ~late & ~held & ~hot  # in place, valid, under its own key
        late &= self._previous_own(block, own, late) >= block.ts - LATE_RECENT_MS
        copy &= ~bad & ~late & ~held

        data, keys, ts = list(block.data), list(block.keys), block.ts.copy()
        labels: dict[int, dict[str, Any]] = {}
        for row in np.flatnonzero(hot).tolist():
            keys[row] = HOT_KEY
            labels[row] = {"hot_key": True}
        for row in np.flatnonzero(bad).tolist():
            kind = self.kinds[kinds[row]]
            data[row] = malformed(data[row], kind, self.etype)
            ts[row] = NO_TIME
            labels[row] = {"malformed": kind}
        for row in np.flatnonzero(late).tolist():
            data[row], ts[row] = self._late(data[row], int(ts[row]))
            labels[row] = {"late": True}
        for row in np.flatnonzero(held).tolist():
            labels[row] = {**labels.get(row, {}), "out_of_order": True}
        rows = Block(data, keys, ts, labels)
        copies = rows.take(np.flatnonzero(copy))
        id_field = self.etype.id_field
        copies.labels = {
            i: {**copies.labels.get(i, {}), "duplicate_of": _decode(d)[id_field]}
            for i, d in enumerate(copies.data)
        }
        self.held.add(rows.take(np.flatnonzero(held)), block.ts[held] + disorder[held], self.orders)
        self.orders += int(held.sum())
        self.copies.add(copies, block.ts[copy] + delay[copy], self.orders)
        self.orders += len(copies)
        if own.any():
            self._remember(block.codes[own], block.ts[own])
        in_place = np.flatnonzero(~held)
        until = int(block.ts[-1]) if n else NO_TIME
        return self._release(rows.take(in_place), block.ts[in_place], block.ts[own | hot], until)

    def rest(self) -> Block:
        """What is still held back, at the end of the stream (copies never due are not sent)."""
        return self._release(Block.empty(), np.zeros(0, np.int64), None, None)

    def _release(
        self, in_place: Block, due: np.ndarray, advancing: np.ndarray | None, until: int | None
    ) -> Block:
        """The in-place records merged with the held ones due by ``until`` (None: the end).

        By time; at equal times, held-back records first, then in place, then copies. A copy
        goes right after the first valid in-place record at or past its due time, so that the
        stream has moved on from its original by more than the lateness.
        """
        if advancing is None or until is None:
            held_ready = np.ones(len(self.held.due), bool)
            copy_at = np.zeros(0, np.int64)
            copy_ready = np.zeros(len(self.copies.due), bool)
        else:
            held_ready = self.held.due <= until
            after = np.searchsorted(advancing, self.copies.due)
            copy_ready = after < len(advancing)
            copy_at = advancing[after[copy_ready]]
        held_due = self.held.due[held_ready]
        held, held_order = self.held.pop(held_ready)
        copies, copy_order = self.copies.pop(copy_ready)
        out = Block.concat([in_place, held, copies])
        at = np.concatenate([due, held_due, copy_at])
        priority = np.concatenate(
            [np.ones(len(in_place)), np.zeros(len(held)), np.full(len(copies), 2)]
        )
        order = np.concatenate([np.arange(len(in_place)), held_order, copy_order])
        return out.take(np.lexsort((order, priority, at)))

    def _previous_own(self, block: Block, own: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """For each record: the event time of its key's latest earlier own record (NO_TIME if
        none), computed for the candidates only (others get NO_TIME)."""
        result = np.full(len(block), NO_TIME, np.int64)
        wanted = np.flatnonzero(candidates)
        if not len(wanted):
            return result
        codes = block.codes
        assert codes is not None
        self._grow(int(codes.max()) + 1)
        known = np.flatnonzero(own)
        rows = np.concatenate([known, wanted])
        is_own = np.concatenate([np.ones(len(known), bool), np.zeros(len(wanted), bool)])
        order = np.lexsort((rows, codes[rows]))
        rows, is_own = rows[order], is_own[order]
        source = np.maximum.accumulate(np.where(is_own, np.arange(len(rows)), -1))
        found = (source >= 0) & (codes[rows[np.maximum(source, 0)]] == codes[rows])
        previous = np.where(
            found, block.ts[rows[np.maximum(source, 0)]], self.last_own[codes[rows]]
        )
        result[rows[~is_own]] = previous[~is_own]
        return result

    def _remember(self, codes: np.ndarray, ts: np.ndarray) -> None:
        self._grow(int(codes.max()) + 1)
        np.maximum.at(self.last_own, codes, ts)

    def _grow(self, size: int) -> None:
        if len(self.last_own) < size:
            grown = np.full(size, NO_TIME, np.int64)
            grown[: len(self.last_own)] = self.last_own
            self.last_own = grown

    def _late(self, data: bytes, ts: int) -> tuple[bytes, int]:
        """The event as if produced long ago (a new id: it is not a duplicate)."""
        etype = self.etype
        event = _decode(data)
        old_ms = ts - self.o.allowed_lateness_ms - LATE_MARGIN_MS
        event[etype.time_field] = etype.time_value(old_ms)
        event[etype.id_field] = f"{event[etype.id_field]}-late"
        return _encode(event), old_ms
