"""Exact float sums: the same state and value whatever the order and the batch split."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.core.events.schema import compile_event_type
from pipeline.core.shard import ShardCore, ShardSettings
from pipeline.core.windows import exact
from pipeline.core.windows.spec import compile_jobs
from pipeline.testing import iot_event, records
from tests.core import shards

FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)


def exact_fraction(state) -> Fraction:
    return Fraction(exact._exact_int(state), 1 << -exact.RARE_UNIT)


def state_of_chunk(values: list[float]):
    """What the operator keeps for one batch of one group: limbs summed, rare ones in Python."""
    limbs, rare = exact.split(np.asarray(values, dtype=np.float64))
    summed = exact.normalize(limbs.sum(axis=0, keepdims=True))
    (state,) = exact.of_rows(summed)
    extra = sum(exact.rare_units(v) for v, r in zip(values, rare.tolist(), strict=True) if r)
    return exact.with_rare(state, extra) if extra else state


@settings(max_examples=300, deadline=None)
@given(st.lists(FLOATS, min_size=1, max_size=40), st.data())
def test_a_sum_is_exact_and_its_state_independent_of_split_and_order(values, data):
    cuts = sorted(data.draw(st.lists(st.integers(1, len(values)), max_size=5)))
    chunks = [values[a:b] for a, b in zip([0, *cuts], [*cuts, len(values)], strict=True) if b > a]
    states = [state_of_chunk(chunk) for chunk in chunks]
    order = data.draw(st.permutations(range(len(states))))
    merged = None
    for i in order:
        merged = exact.add(merged, states[i])
    whole = state_of_chunk(values)
    assert merged == whole  # canonical: one state per exact sum
    assert exact_fraction(merged) == sum(map(Fraction, values))
    try:
        rounded = float(exact_fraction(merged))
    except OverflowError:
        rounded = math.inf if exact_fraction(merged) > 0 else -math.inf
    assert math.isclose(exact.value(merged), rounded, rel_tol=4e-16, abs_tol=1e-300)


def test_an_older_snapshots_float_sum_merges_exactly():
    assert exact.add(0.1, None) == exact.of_values([0.1])
    assert exact_fraction(exact.add(0.1, exact.of_values([0.2]))) == Fraction(0.1) + Fraction(0.2)


EXACT = compile_event_type(
    {
        "name": "readings",
        "id_field": "id",
        "time_field": "t",
        "time_format": "epoch_ms",
        "fields": {
            "id": {"type": "string"},
            "t": {"type": "timestamp"},
            "key": {"type": "string"},
            "x": {"type": "float", "required": False},
            "n": {"type": "int", "required": False},
        },
    }
)


class Job:
    name = "sums"
    source = "readings"
    window = "1m"
    lateness = "0s"
    group_by = ("key",)
    metrics = {
        "x_sum": "sum(x)",
        "x_avg": "avg(x)",
        "n_sum": "sum(n)",
        "n_avg": "avg(n)",
        "n_min": "min(n)",
        "n_max": "max(n)",
    }


T0 = 1_767_225_600_000
#: an int field's values: past float64's integers (2**53), summing within int64 (up to 30)
INTEGERS = st.integers(-(2**58), 2**58) | st.sampled_from([2**58, -(2**58), 2**53 + 1])


def results(payloads, cuts, restart=False):
    """The windows of ``payloads`` processed in batches split at ``cuts``; ``restart``: each
    batch by a new core restored from the previous one's snapshot."""

    def new_core():
        jobs = compile_jobs([Job()], {"readings": EXACT})
        return ShardCore(EXACT, jobs, "s", ShardSettings(control_records=True))

    core = new_core()
    batch = records(payloads)
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(batch)], strict=True):
        if restart:
            blob, core = core.snapshot(), new_core()
            core.restore(blob)
        out += core.process(batch[a:b]).results
    return out + core.close_windows().results


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(FLOATS, INTEGERS, st.sampled_from("ab")), max_size=30),
    st.lists(st.integers(0, 30), max_size=4),
)
@example(rows=[(0.0, 0, "a"), (2.0**-52, 0, "a")], cuts=[2])  # a rare part, then restored
def test_window_states_and_values_depend_on_no_batch_split_nor_restart(rows, cuts):
    payloads = [
        {"id": f"e{i}", "t": T0 + i, "key": key, "x": x, "n": n}
        for i, (x, n, key) in enumerate(rows)
    ]
    cuts = sorted(c for c in cuts if c <= len(payloads))
    whole = results(payloads, [])
    for split in (results(payloads, cuts), results(payloads, cuts, restart=True)):
        assert [(r.group, r.metrics, r.states) for r in split] == [
            (r.group, r.metrics, r.states) for r in whole
        ]
    for result in whole:
        mine = [p for p in payloads if ("key", p["key"]) in result.group]
        metrics = dict(result.metrics)
        numbers = [p["n"] for p in mine]
        assert metrics["n_sum"] == sum(numbers)  # integers as integers
        assert metrics["n_avg"] == sum(numbers) / len(numbers)
        assert (metrics["n_min"], metrics["n_max"]) == (min(numbers), max(numbers))
        assert exact_fraction(result.states[0]) == sum(Fraction(p["x"]) for p in mine)


def test_a_window_never_inherits_the_rare_part_of_the_one_that_had_its_slot():
    """A closed window's slot is reused by the next window opened: its rare doubles (here a
    tiny reading, below the limbs' unit) go with it, not into the next one's sum."""
    c = shards.core()
    (first,) = c.process(
        records(
            [
                iot_event(1, T0, temperature=1e-30),
                iot_event(2, T0 + 1_000, temperature=2.0),
                iot_event(3, T0 + 95_000, temperature=4.0),  # closes [T0, T0 + 1 m)
            ]
        )
    ).results
    assert shards.metrics(first)["temperature_avg"] == (1e-30 + 2.0) / 2
    c.process(records([iot_event(4, T0 + 200_000, temperature=0.0)], first_sequence=4))
    last = c.close_windows(end_of_stream=True).results[-1]
    assert shards.metrics(last)["temperature_avg"] == 0.0
