"""Where the time of one run goes, by stage: ``--profile`` of the throughput benches.

The run is profiled once with cProfile and each stage's cumulative time is read back from the
functions that implement it, per event. cProfile adds a cost to every Python call, so the
figures are shares of a slower run, not timings: they say which stage to work on.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
from collections.abc import Callable, Mapping, Sequence

#: A stage: the (file path suffix, function name) pairs whose cumulative time it is.
Stage = Sequence[tuple[str, str]]


def stage_times(run: Callable[[], object], events: int, stages: Mapping[str, Stage]) -> dict:
    """Microseconds per event of each stage, and of the whole profiled run (``total``)."""
    gc.collect()
    profile = cProfile.Profile()
    profile.runcall(run)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(tottime for _, _, tottime, _, _ in stats.values())
    times = {
        name: sum(
            cumulative
            for (path, _, function), (_, _, _, cumulative, _) in stats.items()
            if any(path.endswith(suffix) and function == wanted for suffix, wanted in functions)
        )
        for name, functions in stages.items()
    }
    return {name: seconds / events * 1e6 for name, seconds in {**times, "total": total}.items()}


def print_stages(title: str, micros: Mapping[str, float]) -> None:
    total = micros["total"]
    print(f"\n{title} (under cProfile, µs per event; stages may nest)")
    for name, value in micros.items():
        print(f"  {name:44} {value:8.2f} {value / total:6.0%}")
