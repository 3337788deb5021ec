"""A seeded web click stream: anonymous users, their sessions, OS and screen quadrant.

This reproduces the input of the seed's per-second "unique users by OS and quadrant" example
(shared/seeds/003): each anonymous user (a Cognito-style identity, ``us-east-1:<uuid>``) keeps one
OS, opens sessions now and then, and while a session lasts reports about once a second which
page and screen quadrant they are on and what they did. Event time is ``recordTime`` in epoch
seconds with millisecond precision, as the seed's JavaScript SDK sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

OPERATING_SYSTEMS = ("Android", "iOS", "Windows Phone", "other")
OS_SHARES = (0.45, 0.40, 0.05, 0.10)
QUADRANTS = ("A", "B", "C", "D")
PAGES = ("/", "/products", "/products/item", "/cart", "/checkout", "/help")
EVENT_TYPES = ("page_view", "click", "scroll")


@dataclass(frozen=True)
class Click:
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
        return {
            "event_id": self.event_id,
            "recordTime": self.recordTime,
            "cognitoId": self.cognitoId,
            "os": self.os,
            "quadrant": self.quadrant,
            "page": self.page,
            "event_type": self.event_type,
            "session_id": self.session_id,
        }


class WebUsers:
    """The users' state; :meth:`events` yields clicks in event-time order."""

    def __init__(
        self,
        users: int,
        seed: int,
        start_ms: int,
        session_minutes: float = 5.0,
        idle_minutes: float = 10.0,
        chunk_s: float = 10.0,
    ) -> None:
        if users <= 0:
            raise ValueError("users must be positive")
        self.rng = np.random.default_rng(seed)
        self.start_ms = start_ms
        self.chunk_ms = int(chunk_s * 1000)
        self.session_ms = session_minutes * 60_000
        self.idle_ms = idle_minutes * 60_000
        self._run_id = int(self.rng.integers(0, 2**63))
        self._counter = 0
        self._sessions = 0
        self.ids = [
            f"us-east-1:{uuid.UUID(int=int(self.rng.integers(0, 2**63)) << 64 | i)}"
            for i in range(users)
        ]
        self.os = self.rng.choice(len(OPERATING_SYSTEMS), size=users, p=OS_SHARES)
        # about a third of the users are in a session at the start
        in_session = self.rng.random(users) < self.session_ms / (self.session_ms + self.idle_ms)
        self.session_end = np.where(
            in_session, start_ms + self.rng.exponential(self.session_ms, users), start_ms
        )
        self.next_start = np.where(
            in_session, np.inf, start_ms + self.rng.exponential(self.idle_ms, users)
        )
        self.session_id = [self._new_session() if s else "" for s in in_session]
        self.next_ms = start_ms + self.rng.uniform(0, 1000, users)
        self.quadrant = self.rng.integers(0, 4, users)
        self.page = self.rng.integers(0, len(PAGES), users)

    def _new_session(self) -> str:
        self._sessions += 1
        return f"s-{self._run_id:016x}-{self._sessions:08x}"

    def events(self, until_ms: int) -> Iterator[Click]:
        t0 = self.start_ms
        while t0 < until_ms:
            t1 = min(t0 + self.chunk_ms, until_ms)
            yield from self._chunk(t0, t1)
            t0 = t1

    def _chunk(self, t0: int, t1: int) -> Iterator[Click]:
        rng = self.rng
        pending: list[tuple[float, int]] = []
        for user in range(len(self.ids)):
            time = self.next_ms[user]
            while time < t1:
                if time >= self.session_end[user]:  # session over: idle until the next one
                    if self.next_start[user] == np.inf:
                        self.next_start[user] = self.session_end[user] + rng.exponential(
                            self.idle_ms
                        )
                    if time < self.next_start[user]:
                        time = self.next_start[user]
                        continue
                    self.session_end[user] = self.next_start[user] + rng.exponential(
                        self.session_ms
                    )
                    self.next_start[user] = np.inf
                    self.session_id[user] = self._new_session()
                pending.append((time, user))
                time += rng.uniform(800, 1200)
            self.next_ms[user] = time
        pending.sort()
        for time, user in pending:
            if rng.random() < 0.1:
                self.quadrant[user] = rng.integers(0, 4)
            if rng.random() < 0.2:
                self.page[user] = rng.integers(0, len(PAGES))
            self._counter += 1
            yield Click(
                f"{self._run_id:016x}-{self._counter:012x}",
                round(time) / 1000,
                self.ids[user],
                OPERATING_SYSTEMS[int(self.os[user])],
                QUADRANTS[int(self.quadrant[user])],
                PAGES[int(self.page[user])],
                EVENT_TYPES[int(rng.integers(0, len(EVENT_TYPES)))],
                self.session_id[user],
            )
