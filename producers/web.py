"""A seeded web click stream: anonymous users, their sessions, OS and screen quadrant.

This reproduces the input of the seed's per-second "unique users by OS and quadrant" example
(shared/seeds/003): each anonymous user (a Cognito-style identity, ``us-east-1:<uuid>``) keeps one
OS, opens sessions now and then, and while a session lasts reports about once a second which
page and screen quadrant they are on and what they did. Event time is ``recordTime`` in epoch
seconds with millisecond precision, as the seed's JavaScript SDK sends it. The records have the
shape of :class:`pipeline.core.events.schema.WebClick`.

Generation is vectorised per chunk of simulated time and encoded in bulk, like the IoT fleet
(:mod:`producers.simulation`).
"""

from __future__ import annotations

import math
import uuid

import msgspec
import numpy as np

from producers.block import Block
from producers.encode import Choice, Digits, Hex, JsonLayout
from producers.simulation import CHUNK_EVENTS, ChunkedSource

OPERATING_SYSTEMS = ("Android", "iOS", "Windows Phone", "other")
OS_SHARES = (0.45, 0.40, 0.05, 0.10)
QUADRANTS = ("A", "B", "C", "D")
PAGES = ("/", "/products", "/products/item", "/cart", "/checkout", "/help")
EVENT_TYPES = ("page_view", "click", "scroll")
#: Clicks of a session are 0.8 to 1.2 s apart.
CLICK_GAP_MS = (800.0, 1200.0)
QUADRANT_CHANGE, PAGE_CHANGE = 0.1, 0.2


class Click(msgspec.Struct, frozen=True):
    """One click, decoded from its record (for callers that want objects, not bytes)."""

    event_id: str
    recordTime: float
    cognitoId: str
    os: str
    quadrant: str
    page: str
    event_type: str
    session_id: str

    @property
    def ts(self) -> int:
        return round(self.recordTime * 1000)

    @property
    def partition_key(self) -> str:
        return self.cognitoId

    def as_dict(self) -> dict[str, object]:
        return msgspec.structs.asdict(self)


class WebUsers(ChunkedSource[Click]):
    """The users' state; :meth:`blocks` yields their clicks in event-time order."""

    def __init__(
        self,
        users: int,
        seed: int,
        start_ms: int,
        session_minutes: float = 5.0,
        idle_minutes: float = 10.0,
    ) -> None:
        if users <= 0:
            raise ValueError("users must be positive")
        super().__init__(seed, start_ms, msgspec.json.Decoder(Click).decode)
        rng = self.rng
        self.session_ms = session_minutes * 60_000
        self.idle_ms = idle_minutes * 60_000
        self.ids = [
            f"us-east-1:{uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i)}"
            for i in range(users)
        ]
        self._keys = np.array(self.ids, dtype=object)
        self.os = rng.choice(len(OPERATING_SYSTEMS), size=users, p=OS_SHARES)
        # users in a session at the start, in proportion to the time spent in sessions
        self.in_session = rng.random(users) < self.session_ms / (self.session_ms + self.idle_ms)
        self.session_end = np.where(
            self.in_session, start_ms + rng.exponential(self.session_ms, users), 0.0
        )
        # in a session: the next click; idle: the start of the next session
        self.next_ms = np.where(
            self.in_session,
            start_ms + rng.uniform(0, CLICK_GAP_MS[1], users),
            start_ms + rng.exponential(self.idle_ms, users),
        )
        self.session = np.where(self.in_session, np.cumsum(self.in_session), 0)
        self._sessions = int(self.in_session.sum())
        self.quadrant = rng.integers(0, len(QUADRANTS), users)
        self.page = rng.integers(0, len(PAGES), users)
        clicks_per_s = users * self.session_ms / (self.session_ms + self.idle_ms) / 1.0
        self.chunk_ms = int(min(10_000, max(1_000, 1_000 * CHUNK_EVENTS / clicks_per_s)))
        self._actions = len(PAGES) * len(EVENT_TYPES)
        self.layout = self._layout()

    def _layout(self) -> JsonLayout:
        """The records' JSON: user and action texts made once, so that encoding a chunk only
        picks them by index and fills in digits."""
        user_texts = tuple(
            f'{user}","os":"{OPERATING_SYSTEMS[int(os)]}"'.encode()
            for user, os in zip(self.ids, self.os, strict=True)
        )
        action_texts = tuple(
            f'{q}","page":"{p}","event_type":"{e}"'.encode()
            for q in QUADRANTS
            for p in PAGES
            for e in EVENT_TYPES
        )
        return JsonLayout(
            [
                b'{"event_id":"%016x-' % self.run_id,
                Hex(12),
                b'","recordTime":',
                Digits(10),
                b".",
                Digits(3),
                b',"cognitoId":"',
                Choice(user_texts),
                b',"quadrant":"',
                Choice(action_texts),
                b',"session_id":"s-%016x-' % self.run_id,
                Hex(8),
                b'"}',
            ]
        )

    def _chunk(self, t0: int, t1: int) -> Block:
        times, users, sessions = self._clicks(t0, t1)
        ts = np.rint(times).astype(np.int64)
        quadrant, page = self._wander(users, ts - t0)
        rng = self.rng
        action = quadrant * self._actions + page * len(EVENT_TYPES)
        action += rng.integers(0, len(EVENT_TYPES), len(ts))
        order = np.argsort((ts - t0) * len(self.ids) + users)
        users, ts = users[order], ts[order]
        ids = self._next_numbers(len(ts))
        seconds, millis = np.divmod(ts, 1000)
        data = self.layout.encode([ids, seconds, millis, users, action[order], sessions[order]])
        return Block(data, self._keys[users].tolist(), ts, codes=users)

    def _clicks(self, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time, user, session number) of every click in [t0, t1), in no particular order."""
        rng = self.rng
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        width = math.ceil((t1 - t0) / CLICK_GAP_MS[0]) + 2
        while True:
            active = np.flatnonzero(self.in_session & (self.next_ms < t1))
            if len(active):
                times = np.empty((len(active), width))
                times[:, 0] = self.next_ms[active]
                steps = rng.uniform(*CLICK_GAP_MS, (len(active), width - 1))
                np.cumsum(steps, axis=1, out=times[:, 1:])
                times[:, 1:] += times[:, :1]
                end = self.session_end[active]
                valid = times < np.minimum(end, t1)[:, None]
                row, column = np.nonzero(valid)
                found.append((times[row, column], active[row], self.session[active][row]))
                following = times[np.arange(len(active)), valid.sum(axis=1)]
                self.next_ms[active] = following
                ended = active[following >= end]  # idle until the next session
                self.in_session[ended] = False
                self.next_ms[ended] = self.session_end[ended] + rng.exponential(
                    self.idle_ms, len(ended)
                )
            starting = np.flatnonzero(~self.in_session & (self.next_ms < t1))
            if len(starting):
                self.in_session[starting] = True
                self.session_end[starting] = self.next_ms[starting] + rng.exponential(
                    self.session_ms, len(starting)
                )
                self.session[starting] = self._sessions + 1 + np.arange(len(starting))
                self._sessions += len(starting)
            elif not len(active):
                break
        if not found:
            empty = np.zeros(0, np.int64)
            return np.zeros(0), empty, empty
        times, users, sessions = (np.concatenate(part) for part in zip(*found, strict=True))
        return times, users, sessions

    def _wander(self, users: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each user's quadrant and page at each of their clicks: now and then they move."""
        rng = self.rng
        order = np.argsort(users * (self.chunk_ms + 1) + offsets, kind="stable")
        by_user = users[order]
        first = np.ones(len(by_user), bool)
        first[1:] = by_user[1:] != by_user[:-1]
        last = np.ones(len(by_user), bool)
        last[:-1] = first[1:]
        result = []
        for state, change, choices in (
            (self.quadrant, QUADRANT_CHANGE, len(QUADRANTS)),
            (self.page, PAGE_CHANGE, len(PAGES)),
        ):
            moved = rng.random(len(by_user)) < change
            value = np.where(moved, rng.integers(0, choices, len(by_user)), state[by_user])
            # forward fill within each user: the latest move, else the state before the chunk
            source = np.maximum.accumulate(np.where(moved | first, np.arange(len(by_user)), 0))
            value = value[source]
            state[by_user[last]] = value[last]
            sorted_back = np.empty_like(value)
            sorted_back[order] = value
            result.append(sorted_back)
        return result[0], result[1]
