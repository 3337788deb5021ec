"""A seeded fleet of IoT devices reporting telemetry.

Devices of several types (thermostat, meter, tracker) spread over sites; each reports on its own
interval with jitter, its readings drift as bounded random walks with a daily cycle, batteries
drain (and are replaced when flat), and devices occasionally go offline for a while. Event time
comes from a simulated clock starting at ``start_ms``.

Generation is vectorised (:mod:`producers.simulation`): each device type is one numpy matrix
(devices x reports) per chunk of simulated time, encoded to JSON in bulk (:mod:`producers.encode`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np

from producers.block import Block
from producers.encode import Choice, Decimal, Digits, Hex, JsonLayout
from producers.simulation import CHUNK_EVENTS, ChunkedSource

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Reading:
    """A bounded random walk with a daily cycle."""

    start: float
    step: float  # standard deviation per report
    low: float
    high: float
    daily_amplitude: float = 0.0


@dataclass(frozen=True)
class DeviceProfile:
    interval_s: float
    temperature: Reading
    humidity: Reading | None
    battery_drain_per_hour: float | None  # percent per hour; None: mains powered


PROFILES: dict[str, DeviceProfile] = {
    "thermostat": DeviceProfile(
        10.0, Reading(21.0, 0.08, 5.0, 35.0, 1.5), Reading(45.0, 0.3, 15.0, 85.0), 0.02
    ),
    "meter": DeviceProfile(15.0, Reading(32.0, 0.15, 0.0, 70.0, 4.0), None, None),
    "tracker": DeviceProfile(
        5.0, Reading(12.0, 0.2, -30.0, 45.0, 6.0), Reading(65.0, 0.5, 5.0, 100.0), 0.4
    ),
}


class Event(msgspec.Struct, frozen=True):
    """One event, decoded from its record (for callers that want objects, not bytes)."""

    event_id: str
    device_id: str
    device_type: str
    site: str
    ts: int
    temperature: float | None
    humidity: float | None
    battery: float | None

    def as_dict(self) -> dict[str, object]:
        return msgspec.structs.asdict(self)

    @property
    def partition_key(self) -> str:
        return self.device_id


class IotFleet(ChunkedSource[Event]):
    """The fleet's state; :meth:`blocks` yields its records in event-time order."""

    def __init__(
        self,
        devices: int,
        seed: int,
        start_ms: int,
        sites: int | None = None,
        jitter: float = 0.1,
        offline_per_hour: float = 0.05,
    ) -> None:
        if devices <= 0:
            raise ValueError("devices must be positive")
        super().__init__(seed, start_ms, msgspec.json.Decoder(Event).decode)
        self.jitter = jitter
        self.offline_per_hour = offline_per_hour
        types = list(PROFILES)
        n_sites = sites or max(1, math.ceil(devices / 10))
        self.types = [types[i % len(types)] for i in range(devices)]
        self.device_ids = [f"{t}-{i:05d}" for i, t in enumerate(self.types)]
        self.sites = [f"site-{int(s):02d}" for s in self.rng.integers(0, n_sites, devices)]
        self._keys = np.array(self.device_ids, dtype=object)
        per_second = sum(1 / PROFILES[t].interval_s for t in self.types)
        self.chunk_ms = int(min(60_000, max(1_000, 1_000 * CHUNK_EVENTS / per_second)))
        self.groups = [
            _TypeGroup(PROFILES[t], np.flatnonzero(np.array(self.types) == t), start_ms, self.rng)
            for t in types
            if t in self.types
        ]
        texts = tuple(
            f'{d}","device_type":"{t}","site":"{s}"'.encode()
            for d, t, s in zip(self.device_ids, self.types, self.sites, strict=True)
        )
        self.layout = JsonLayout(
            [
                b'{"event_id":"%016x-' % self.run_id,
                Hex(12),
                b'","device_id":"',
                Choice(texts),
                b',"ts":',
                Digits(13),
                b',"temperature":',
                Decimal(-10_000, 20_000),
                b',"humidity":',
                Decimal(0, 10_000),
                b',"battery":',
                Decimal(0, 10_000),
                b"}",
            ]
        )

    def _chunk(self, t0: int, t1: int) -> Block:
        parts = [
            group.reports(t0, t1, self.rng, self.jitter, self.offline_per_hour)
            for group in self.groups
        ]
        device, times, temperature, humidity, battery = (
            np.concatenate(c) for c in zip(*parts, strict=True)
        )
        ts = np.floor(times).astype(np.int64)
        order = np.argsort((ts - t0) * len(self.device_ids) + device)
        device, ts = device[order], ts[order]
        ids = self._next_numbers(len(ts))
        humidity, battery = humidity[order], battery[order]
        data = self.layout.encode(
            [
                ids,
                device,
                ts,
                temperature[order],
                (humidity, humidity == _ABSENT),
                (battery, battery == _ABSENT),
            ]
        )
        return Block(data, self._keys[device].tolist(), ts, codes=device)


#: A reading a device type does not have (written as null).
_ABSENT = -1


class _TypeGroup:
    """The devices of one type: reporting clock, readings and battery, as arrays."""

    def __init__(
        self, profile: DeviceProfile, devices: np.ndarray, start_ms: int, rng: np.random.Generator
    ) -> None:
        self.profile = profile
        self.devices = devices
        n = len(devices)
        self.interval_ms = profile.interval_s * 1000
        self.next_ms = start_ms + rng.uniform(0, 1, n) * self.interval_ms
        self.temperature = _Walk(profile.temperature, n, rng)
        self.humidity = _Walk(profile.humidity, n, rng) if profile.humidity else None
        drain = profile.battery_drain_per_hour
        self.drain_per_ms = drain / 3_600_000 if drain is not None else None
        self.battery = rng.uniform(40, 100, n) if drain is not None else None

    def reports(
        self, t0: int, t1: int, rng: np.random.Generator, jitter: float, offline_per_hour: float
    ) -> tuple[np.ndarray, ...]:
        """(device, time, temperature, humidity, battery) of the reports in [t0, t1); readings
        in hundredths, ``_ABSENT`` where the type lacks them."""
        n = len(self.devices)
        width = math.ceil((t1 - t0) / (self.interval_ms * (1 - jitter))) + 1
        times = np.empty((n, width))
        times[:, 0] = self.next_ms
        steps = self.interval_ms * (1 + rng.uniform(-jitter, jitter, (n, width - 1)))
        np.cumsum(steps, axis=1, out=times[:, 1:])
        times[:, 1:] += self.next_ms[:, None]
        valid = times < t1
        last = valid.sum(axis=1) - 1  # the width leaves a column past t1 for every device
        self.next_ms = times[np.arange(n), last + 1]
        # devices going offline for a while during this chunk
        offline = rng.uniform(0, 1, n) < offline_per_hour * (t1 - t0) / 3_600_000
        gap_start = rng.uniform(t0, t1, n)
        gap_end = gap_start + rng.exponential(300_000, n)
        emit = valid & ~(
            offline[:, None] & (times >= gap_start[:, None]) & (times < gap_end[:, None])
        )
        row, column = np.nonzero(emit)
        at = times[row, column]
        temperature = self.temperature.walk(times, last, rng)[row, column]
        amplitude = self.temperature.reading.daily_amplitude
        daily = amplitude * np.sin(2 * np.pi * ((at % DAY_MS) / DAY_MS - 0.25))
        absent = np.full(len(row), _ABSENT, np.int64)
        humidity = absent
        if self.humidity is not None:
            humidity = _hundredths(self.humidity.walk(times, last, rng)[row, column])
        battery = absent
        if self.battery is not None and self.drain_per_ms is not None:
            level = self.battery[:, None] - self.drain_per_ms * (times - times[:, :1])
            level = np.where(level < 5.0, level + 95.0, level)  # a flat battery is replaced
            self.battery = np.where(
                last >= 0, level[np.arange(n), np.maximum(last, 0)], self.battery
            )
            battery = _hundredths(np.clip(level[row, column], 0.0, 100.0))
        return self.devices[row], at, _hundredths(temperature + daily), humidity, battery


class _Walk:
    """One reading across a group's devices: a bounded random walk."""

    def __init__(self, reading: Reading, n: int, rng: np.random.Generator) -> None:
        self.reading = reading
        self.value = reading.start + rng.normal(0, 1, n)

    def walk(self, times: np.ndarray, last: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        r = self.reading
        level = np.cumsum(rng.normal(0, r.step, times.shape), axis=1)
        level += self.value[:, None]
        np.clip(level, r.low, r.high, out=level)
        self.value = np.where(
            last >= 0, level[np.arange(len(level)), np.maximum(last, 0)], self.value
        )
        return level


def _hundredths(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 100).astype(np.int64)
