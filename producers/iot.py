"""A seeded fleet of IoT devices reporting telemetry.

Devices of several types (thermostat, meter, tracker) spread over sites; each reports on its own
interval with jitter, its readings drift as bounded random walks with a daily cycle, batteries
drain (and are replaced when flat), and devices occasionally go offline for a while. Event time
comes from a simulated clock starting at ``start_ms``.

Generation is vectorised over the fleet, one chunk of simulated time at a time (numpy), so a
large fleet costs little Python per event. Everything derives from one seeded generator: the
same seed and options give the same events, byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

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
    temperature: Reading | None
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


@dataclass(frozen=True)
class Event:
    """One generated event: its fields in schema order."""

    event_id: str
    device_id: str
    device_type: str
    site: str
    ts: int
    temperature: float | None
    humidity: float | None
    battery: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "device_id": self.device_id,
            "device_type": self.device_type,
            "site": self.site,
            "ts": self.ts,
            "temperature": self.temperature,
            "humidity": self.humidity,
            "battery": self.battery,
        }

    @property
    def partition_key(self) -> str:
        return self.device_id


class IotFleet:
    """The fleet's state; :meth:`events` yields events in event-time order."""

    def __init__(
        self,
        devices: int,
        seed: int,
        start_ms: int,
        sites: int | None = None,
        jitter: float = 0.1,
        offline_per_hour: float = 0.05,
        chunk_s: float = 60.0,
    ) -> None:
        if devices <= 0:
            raise ValueError("devices must be positive")
        self.rng = np.random.default_rng(seed)
        self.start_ms = start_ms
        self.jitter = jitter
        self.offline_per_hour = offline_per_hour
        self.chunk_ms = int(chunk_s * 1000)
        self._run_id = int(self.rng.integers(0, 2**63))
        self._counter = 0
        types = list(PROFILES)
        n_sites = sites or max(1, math.ceil(devices / 10))
        self.types = [types[i % len(types)] for i in range(devices)]
        self.device_ids = [f"{t}-{i:05d}" for i, t in enumerate(self.types)]
        self.sites = [f"site-{int(s):02d}" for s in self.rng.integers(0, n_sites, devices)]
        profiles = [PROFILES[t] for t in self.types]
        self.interval_ms = np.array([p.interval_s * 1000 for p in profiles])
        self.next_ms = start_ms + self.rng.uniform(0, 1, devices) * self.interval_ms
        self.temperature = _ReadingState([p.temperature for p in profiles], self.rng)
        self.humidity = _ReadingState([p.humidity for p in profiles], self.rng)
        drain = [p.battery_drain_per_hour for p in profiles]
        self.has_battery = np.array([d is not None for d in drain])
        self.drain_per_ms = np.array([(d or 0.0) / 3_600_000 for d in drain])
        self.battery = np.where(self.has_battery, self.rng.uniform(40, 100, devices), np.nan)

    def events(self, until_ms: int) -> Iterator[Event]:
        """Every event with event time before ``until_ms``, in event-time order."""
        t0 = self.start_ms
        while t0 < until_ms:
            t1 = min(t0 + self.chunk_ms, until_ms)
            yield from self._chunk(t0, t1)
            t0 = t1

    def _chunk(self, t0: int, t1: int) -> Iterator[Event]:
        rng = self.rng
        n = len(self.device_ids)
        width = math.ceil((t1 - t0) / (self.interval_ms.min() * (1 - self.jitter))) + 1
        steps = self.interval_ms[:, None] * (1 + rng.uniform(-self.jitter, self.jitter, (n, width)))
        times = self.next_ms[:, None] + np.concatenate(
            [np.zeros((n, 1)), np.cumsum(steps, axis=1)[:, :-1]], axis=1
        )
        valid = times < t1
        counts = valid.sum(axis=1)
        # width leaves at least one column past t1 per device: the next report after the chunk
        self.next_ms = times[np.arange(n), counts]
        # devices going offline for a while during this chunk
        chunk_hours = (t1 - t0) / 3_600_000
        offline = rng.uniform(0, 1, n) < self.offline_per_hour * chunk_hours
        gap_start = rng.uniform(t0, t1, n)
        gap_end = gap_start + rng.exponential(300_000, n)
        in_gap = offline[:, None] & (times >= gap_start[:, None]) & (times < gap_end[:, None])
        temperature = self.temperature.walk(times, valid, rng)
        humidity = self.humidity.walk(times, valid, rng)
        battery = self._drain(times, valid)
        emit = valid & ~in_gap
        device, column = np.nonzero(emit)
        ts = np.floor(times[device, column]).astype(np.int64)
        order = np.lexsort((device, ts))
        temp_values = np.round(temperature[device, column], 2)[order].tolist()
        hum_values = np.round(humidity[device, column], 2)[order].tolist()
        bat_values = np.round(battery[device, column], 2)[order].tolist()
        for i, d, t in zip(
            range(len(order)), device[order].tolist(), ts[order].tolist(), strict=True
        ):
            self._counter += 1
            yield Event(
                f"{self._run_id:016x}-{self._counter:012x}",
                self.device_ids[d],
                self.types[d],
                self.sites[d],
                t,
                _none_if_nan(temp_values[i]),
                _none_if_nan(hum_values[i]),
                _none_if_nan(bat_values[i]),
            )

    def _drain(self, times: np.ndarray, valid: np.ndarray) -> np.ndarray:
        elapsed = times - times[:, :1]
        level = self.battery[:, None] - self.drain_per_ms[:, None] * elapsed
        # a flat battery is replaced: the level wraps back to 100
        level = np.where(level < 5.0, level + 95.0, level)
        last = np.where(
            valid.any(axis=1),
            level[np.arange(len(level)), np.maximum(valid.sum(axis=1) - 1, 0)],
            self.battery,
        )
        self.battery = np.where(self.has_battery, last, np.nan)
        return np.where(self.has_battery[:, None], level, np.nan)


class _ReadingState:
    """Current values of one reading across the fleet (NaN where a device lacks it)."""

    def __init__(self, readings: list[Reading | None], rng: np.random.Generator) -> None:
        nan = float("nan")
        self.present = np.array([r is not None for r in readings])
        self.value = np.array([r.start if r else nan for r in readings]) + rng.normal(
            0, 1, len(readings)
        )
        self.step = np.array([r.step if r else 0.0 for r in readings])
        self.low = np.array([r.low if r else nan for r in readings])
        self.high = np.array([r.high if r else nan for r in readings])
        self.amplitude = np.array([r.daily_amplitude if r else 0.0 for r in readings])

    def walk(self, times: np.ndarray, valid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        steps = rng.normal(0, 1, times.shape) * self.step[:, None]
        level = np.clip(
            self.value[:, None] + np.cumsum(steps, axis=1), self.low[:, None], self.high[:, None]
        )
        last_index = np.maximum(valid.sum(axis=1) - 1, 0)
        self.value = np.where(
            valid.any(axis=1), level[np.arange(len(level)), last_index], self.value
        )
        daily = self.amplitude[:, None] * np.sin(2 * np.pi * ((times % DAY_MS) / DAY_MS - 0.25))
        return np.where(self.present[:, None], level + daily, np.nan)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value
