"""Vectorised JSON encoding: the records are the JSON a per-event encoder would write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.encode import Choice, Decimal, Digits, Hex, JsonLayout, decimal_text


def test_decimals_are_written_as_python_writes_them():
    for hundredths in range(-10_000, 20_001):
        assert decimal_text(hundredths) == repr(round(hundredths / 100, 2)).encode()


NAMES = ("a", 'quo"te', "ünï", "", "/products/item")
LAYOUT = JsonLayout(
    [
        b'{"id":"run-',
        Hex(12),
        b'","n":',
        Digits(13),
        b',"small":"',
        Digits(2),
        b'","name":',
        Choice(tuple(json.dumps(n).encode() for n in NAMES)),
        b',"x":',
        Decimal(-10_000, 20_000),
        b"}",
    ]
)
rows = st.lists(
    st.tuples(
        st.integers(0, 16**12 - 1),
        st.integers(10**12, 10**13 - 1),
        st.integers(0, 99),
        st.integers(0, len(NAMES) - 1),
        st.one_of(st.none(), st.integers(-10_000, 20_000)),
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_each_row_is_the_json_of_its_values(values):
    ids, ns, smalls, names, xs = (
        np.array([v if v is not None else 0 for v in c]) for c in zip(*values, strict=True)
    )
    null = np.array([row[4] is None for row in values])
    records = LAYOUT.encode([ids, ns, smalls, names, (xs, null)])
    assert len(records) == len(values)
    for record, (i, n, small, name, x) in zip(records, values, strict=True):
        assert json.loads(record) == {
            "id": f"run-{i:012x}",
            "n": n,
            "small": f"{small:02d}",
            "name": NAMES[name],
            "x": None if x is None else round(x / 100, 2),
        }
        assert b" " not in record  # compact


def test_values_that_do_not_fit_are_refused():
    layout = JsonLayout([b'{"t":', Digits(3), b',"x":', Decimal(0, 100), b"}"])
    with pytest.raises(ValueError, match="does not fit in 3 digits"):
        layout.encode([np.array([1000]), np.array([5])])
    with pytest.raises(ValueError, match=r"outside \[0, 100\]"):
        layout.encode([np.array([1]), np.array([101])])
    with pytest.raises(ValueError, match="NUL or a raw newline"):
        _ = Choice((b"a\nb",)).table
    assert layout.encode([np.zeros(0, np.int64), np.zeros(0, np.int64)]) == []
