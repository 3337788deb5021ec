"""Count, sum, min, max and avg metrics, held as arrays by slot and folded in C
(:class:`pipeline.core._kernels.NumericMetric`); states are converted to and from the functions'
plain form (``windows.aggregates``) only at the edges: emission, snapshots, restore.

Sums are exact, so a window's state and value never depend on how its events were split into
batches: counts, sums and extremes of integer fields are int64 (a sum past its range wraps, as
the lake's bigint would not hold it), sums of floats are limbs of an exact sum
(:mod:`pipeline.core.windows.exact`; the rare doubles outside the limbs' range are added in
Python, per slot).
"""

from __future__ import annotations

from pipeline.core._kernels import NumericMetric
from pipeline.core.windows import exact
from pipeline.core.windows.spec import MetricSpec

#: The functions held here; the others keep a plain state per slot.
VECTORISED = {"count", "sum", "min", "max", "avg"}


def numeric_metric(metric: MetricSpec, integer: bool) -> NumericMetric:
    """The slot arrays of one metric; ``integer``: its field is an integer field."""
    return NumericMetric(
        metric.name,
        metric.function.name,
        integer,
        metric.field is not None,
        exact.with_rare,
        exact.value,
    )
