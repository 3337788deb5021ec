"""The reference input of the benchmarks: seeded IoT events as NDJSON lines.

1M events by default from 10k devices reporting every ~10 s (1,000 events/s), 2% exact
duplicates re-sent within 20 records, 5% of events delayed by up to 30 s (within the job's
lateness). Fewer devices at the same 1,000 events/s make fewer, larger groups.
"""

from __future__ import annotations

import numpy as np

T0 = 1_767_225_600_000


def reference_lines(
    n: int = 1_000_000, devices: int = 10_000, seed: int = 7, per_second: float | None = None
) -> list[bytes]:
    """``per_second``: the fleet's events per second (default: each device every ~10 s)."""
    rng = np.random.default_rng(seed)
    per_second = per_second or devices / 10
    ts = T0 + (np.arange(n) / per_second * 1000).astype(np.int64) + rng.integers(0, 1000, n)
    delayed = rng.random(n) < 0.05
    arrival = ts + np.where(delayed, rng.integers(1, 30_000, n), 0)
    order = np.argsort(arrival, kind="stable")
    device = rng.integers(0, devices, n)
    temperature = np.round(rng.normal(21, 4, n), 2)
    humidity = np.round(rng.uniform(20, 80, n), 1)
    battery = np.round(rng.uniform(5, 100, n), 1)
    kinds = ("thermostat", "meter", "tracker")
    lines = []
    for i in order.tolist():
        d = int(device[i])
        lines.append(
            (
                f'{{"event_id":"e{i:08d}","device_id":"dev-{d:05d}","device_type":"{kinds[d % 3]}",'
                f'"site":"site-{d % 50:02d}","ts":{int(ts[i])},"temperature":{temperature[i]},'
                f'"humidity":{humidity[i]},"battery":{battery[i]}}}'
            ).encode()
        )
    duplicates = rng.choice(n, size=n // 50, replace=False)
    for position in sorted(duplicates.tolist(), reverse=True):
        lines.insert(min(len(lines), position + int(rng.integers(1, 20))), lines[position])
    return lines
