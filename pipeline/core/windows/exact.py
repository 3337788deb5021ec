"""Exact sums of floats: the same state, and so the same value, whatever the order and split.

A float64 sum folded per batch depends on where the batches were cut (addition rounds), so a
replay with other batch boundaries would change a window's last bits, rewrite its result and
bump its version. Here a sum is kept exactly. Every double is ``M * 2**E`` (``|M| < 2**53``);
one with ``2**-27 <= |x| < 2**59`` (every reading a sensor or a click stream sends, and zero) is
an integer number of ``2**-80``, split into four 35-bit *limbs*: numpy splits a batch at once and
Arrow sums the limb columns per group in int64, with room for 2**28 values per group before a
carry. Other doubles (huge, or with bits below 2**-80) are added exactly in Python, in units of
``2**-1074`` (every double is a whole number of those): rare, so cheap.

The state is plain data: ``l0, l1, l2, l3`` with carries propagated (``0 <= l0..l2 < 2**35``,
``l3`` signed), so equal sums have equal states, plus the rare part as a decimal string when
there is one. The compiled fold emits it as a tuple (immutable, so left out of the cyclic GC:
a window result's states are built by the hundred thousand); merges and decoded snapshots give
lists of the same values, which encode (msgpack, JSON) to the same bytes. Its value is the
exact sum rounded by one fixed sequence of float operations (:func:`value`): the same state
always gives the same float.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from pipeline.core import _kernels

LIMB_BITS = 35
LIMBS = 4
#: A limb sum's unit is 2**UNIT; a rare part's 2**RARE_UNIT (the smallest subnormal).
UNIT = -80
RARE_UNIT = -1074
_MASK = (1 << LIMB_BITS) - 1

#: A plain state: limbs, and the rare part (decimal digits) when there is one.
State = Sequence[Any]


def split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Limbs (n x 4 int64) of each value, zero for NaN (nulls) and for the rare ones, and the
    mask of the rare ones (to be added with :func:`rare_units`). Compiled, as the window fold
    splits each value (:func:`pipeline.core._kernels.split`)."""
    return _kernels.split(np.ascontiguousarray(values, dtype=np.float64))


def normalize(limbs: np.ndarray) -> np.ndarray:
    """Carries propagated (rows of limbs, in place when they are C-contiguous int64): the
    canonical form of each sum, as the compiled fold keeps it."""
    return _kernels.normalize(np.ascontiguousarray(limbs, dtype=np.int64))


def value(state: State | float | None) -> float | None:
    """The sum a plain state holds (a bare float: an older snapshot's inexact sum)."""
    if state is None or isinstance(state, float | int):
        return state
    if len(state) == LIMBS:  # the fold's own formula (one fixed sequence of float operations)
        return _kernels.value(*state)
    total = _exact_int(state)
    try:
        return total / (1 << -RARE_UNIT)  # correctly rounded
    except OverflowError:  # beyond the largest double, as a float sum would be
        return math.inf if total > 0 else -math.inf


def add(a: State | float | None, b: State | float | None) -> State | None:
    """The exact sum of two states (None: nothing summed)."""
    if a is None or b is None:
        return _canonical(a if b is None else b)
    total = _exact_int(_canonical(a)) + _exact_int(_canonical(b))  # type: ignore[arg-type]
    return _from_int(total)


def of_values(numbers: Iterable[float | None]) -> State | None:
    """The exact sum of ``numbers`` (nulls skipped; None when there is none)."""
    present = [rare_units(n) for n in numbers if n is not None]
    return _from_int(sum(present)) if present else None


def of_rows(limbs: np.ndarray) -> list[State]:
    """Plain states of normalized rows of limbs."""
    return limbs.tolist()


def with_rare(limbs: State, rare: int) -> State:
    """The plain state of a slot's limbs plus its rare doubles' sum (in units of 2**RARE_UNIT)."""
    return _from_int(_exact_int(limbs) + rare)


def rare_units(number: float) -> int:
    """A double as a whole number of 2**RARE_UNIT (every double is one)."""
    numerator, denominator = float(number).as_integer_ratio()
    return numerator * ((1 << -RARE_UNIT) // denominator)


def _canonical(state: State | float | None) -> State | None:
    if isinstance(state, float | int):  # an older snapshot's float sum
        return _from_int(rare_units(float(state)))
    return state


def _exact_int(state: Sequence[Any]) -> int:
    """The state's exact sum in units of 2**RARE_UNIT."""
    limbs = sum(int(limb) << (LIMB_BITS * k) for k, limb in enumerate(state[:LIMBS]))
    rare = int(state[LIMBS]) if len(state) > LIMBS else 0
    return (limbs << (UNIT - RARE_UNIT)) + rare


def _from_int(total: int) -> State:
    """The canonical state of an exact sum in units of 2**RARE_UNIT: as many of it as limbs
    hold (whole units of 2**UNIT below 2**139), the rest as the rare part."""
    scale = UNIT - RARE_UNIT
    units, rest = divmod(total, 1 << scale)
    top = LIMB_BITS * (LIMBS - 1)
    if not -(1 << 52) <= units >> top < (1 << 52):  # the top limb must stay exact as a float
        units, rest = 0, total
    limbs = [(units >> (LIMB_BITS * k)) & _MASK for k in range(LIMBS - 1)] + [units >> top]
    return limbs if rest == 0 else [*limbs, str(rest)]
