"""Process-level tuning for long-running consumers.

A consumer holds large, long-lived state (dedupe memory, open windows) and allocates many small
objects per batch; with CPython's default thresholds the cyclic garbage collector rescans that
state every few thousand allocations and costs about a fifth of the core's time (measured by
``bench/bench_core.py``). Consumers raise the first-generation threshold; the library itself
never changes global interpreter settings on import.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> None:
    """Collect cycles less often: call once at the start of a consumer process."""
    gc.set_threshold(*GC_THRESHOLDS)
