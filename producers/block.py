"""Records on their way to the stream: a block at a time (:class:`Block`), or one by one.

The producer moves records in blocks, columns rather than objects, so that simulating, chaos,
batching and sending cost little Python per record. A block lists records in send order; labels
(what chaos injected, for the ground truth) are sparse, by row.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: ``ts`` of a record that carries no valid event time (malformed records, control records).
NO_TIME = -(2**62)


@dataclass(frozen=True)
class Outgoing:
    """One record to send: partition key, payload bytes and the labels of what was injected."""

    partition_key: str
    data: bytes
    labels: dict[str, Any] = field(default_factory=dict)
    explicit_hash_key: str | None = None
    #: the user records of a KPL aggregate (empty for an ordinary record)
    members: tuple[Outgoing, ...] = ()


@dataclass
class Block:
    """Records in send order, as columns.

    ``ts`` is each record's event time in ms (:data:`NO_TIME` when it has none), ``codes`` the
    source's key number of each record (device or user; ``None`` once records are mixed),
    ``members`` the user records of each aggregated record; ``top`` and ``floor`` say how far
    each record may be reordered (set by :class:`producers.batching.StreamClock`).
    """

    data: list[bytes]
    keys: list[str]
    ts: np.ndarray
    labels: dict[int, dict[str, Any]] = field(default_factory=dict)
    hash_keys: list[str | None] | None = None
    codes: np.ndarray | None = None
    members: list[Block] | None = None
    floor: np.ndarray | None = None
    top: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.data)

    @property
    def user_records(self) -> int:
        return sum(map(len, self.members)) if self.members is not None else len(self.data)

    def sizes(self) -> np.ndarray:
        """Bytes of each record as Kinesis counts them: data plus partition key."""
        keys = self.keys
        key_bytes = np.fromiter(
            map(len, keys) if "".join(keys).isascii() else (len(k.encode()) for k in keys),
            np.int64,
            len(keys),
        )
        return np.fromiter(map(len, self.data), np.int64, len(self)) + key_bytes

    def __iter__(self) -> Iterator[Outgoing]:
        for row, (key, data) in enumerate(zip(self.keys, self.data, strict=True)):
            yield Outgoing(
                key,
                data,
                self.labels.get(row, {}),
                self.hash_keys[row] if self.hash_keys is not None else None,
                tuple(self.members[row]) if self.members is not None else (),
            )

    def take(self, rows: np.ndarray | slice) -> Block:
        """The records at ``rows`` (a slice, or distinct positions), in that order."""
        if isinstance(rows, slice):
            begin, stop, _ = rows.indices(len(self))
            labels = {r - begin: v for r, v in self.labels.items() if begin <= r < stop}
        else:
            labels = self._moved_labels(rows)
        return self._pick(rows, labels)

    def split(self, ends: Sequence[int]) -> list[Block]:
        """Consecutive pieces ending at ``ends`` (the last piece runs to the end)."""
        bounds = [0, *ends, len(self)]
        pieces = [self._pick(slice(a, b), {}) for a, b in itertools.pairwise(bounds)]
        if self.labels:
            rows = np.fromiter(self.labels, np.int64, len(self.labels))
            places = np.searchsorted(ends, rows, "right").tolist()
            for row, piece in zip(rows.tolist(), places, strict=True):
                pieces[piece].labels[row - bounds[piece]] = self.labels[row]
        return pieces

    def _pick(self, rows: np.ndarray | slice, labels: dict[int, dict[str, Any]]) -> Block:
        if isinstance(rows, slice):

            def select(values: list[Any]) -> list[Any]:
                return values[rows]

        else:
            positions = rows.tolist()

            def select(values: list[Any]) -> list[Any]:
                if len(positions) > 1:
                    return list(operator.itemgetter(*positions)(values))
                return [values[i] for i in positions]

        return Block(
            select(self.data),
            select(self.keys),
            self.ts[rows],
            labels,
            select(self.hash_keys) if self.hash_keys is not None else None,
            self.codes[rows] if self.codes is not None else None,
            select(self.members) if self.members is not None else None,
            self.floor[rows] if self.floor is not None else None,
            self.top[rows] if self.top is not None else None,
        )

    def _moved_labels(self, rows: np.ndarray) -> dict[int, dict[str, Any]]:
        if not self.labels:
            return {}
        new_position = np.full(len(self), -1, np.int64)
        new_position[rows] = np.arange(len(rows))
        old = np.fromiter(self.labels, np.int64, len(self.labels))
        new = new_position[old]
        return {
            n: self.labels[o] for o, n in zip(old.tolist(), new.tolist(), strict=True) if n >= 0
        }

    @classmethod
    def concat(cls, blocks: Sequence[Block]) -> Block:
        """The records of ``blocks`` one after the other."""
        blocks = [b for b in blocks if len(b)] or list(blocks[:1])
        if len(blocks) == 1:
            return blocks[0]
        if not blocks:
            return cls.empty()
        labels: dict[int, dict[str, Any]] = {}
        offset = 0
        for block in blocks:
            labels.update({offset + row: value for row, value in block.labels.items()})
            offset += len(block)

        def joined(name: str) -> Any:
            parts = [getattr(b, name) for b in blocks]
            if name == "hash_keys" and any(p is not None for p in parts):
                parts = [
                    [None] * len(b) if p is None else p for p, b in zip(parts, blocks, strict=True)
                ]
            if any(p is None for p in parts):
                return None
            if isinstance(parts[0], np.ndarray):
                return np.concatenate(parts)
            joined_list: list[Any] = []
            for part in parts:
                joined_list.extend(part)
            return joined_list

        return cls(
            joined("data"),
            joined("keys"),
            np.concatenate([b.ts for b in blocks]),
            labels,
            joined("hash_keys"),
            joined("codes"),
            joined("members"),
            joined("floor"),
            joined("top"),
        )

    @classmethod
    def of(cls, records: Sequence[Outgoing], ts: Sequence[int] | None = None) -> Block:
        """A block of single records (event times unknown unless given)."""
        hash_keys = [r.explicit_hash_key for r in records]
        aggregated = any(r.members for r in records)
        return cls(
            [r.data for r in records],
            [r.partition_key for r in records],
            np.array(ts if ts is not None else [NO_TIME] * len(records), np.int64),
            {row: r.labels for row, r in enumerate(records) if r.labels},
            hash_keys if any(k is not None for k in hash_keys) else None,
            members=[cls.of(r.members) for r in records] if aggregated else None,
        )

    @classmethod
    def empty(cls) -> Block:
        return cls([], [], np.zeros(0, np.int64))
