"""An owner's reply is checked before anything of it is used; every way to be wrong has a reason."""

import numpy as np
import pytest

from mycroft_fl.data import Dataset
from mycroft_fl.replies import check_reply

SHAPE = (2, 3)


def reply(n=4, **overrides):
    arrays = {
        "x": np.arange(n * 6, dtype=np.float64).reshape(n, *SHAPE),
        "y": np.arange(n, dtype=np.int32) % 3,
        "indices": np.arange(10, 10 + n, dtype=np.int64),
    }
    arrays.update(overrides)
    return arrays


def check(arrays, budget=5):
    return check_reply(arrays["x"], arrays["y"], arrays["indices"], sample_shape=SHAPE, n_classes=3, budget=budget)


def test_valid_reply_passes_converted():
    arrays = reply()
    subset, reason = check(arrays)
    assert reason is None and isinstance(subset, Dataset)
    assert subset.x.dtype == np.float32 and subset.y.dtype == np.int64
    np.testing.assert_array_equal(subset.x, arrays["x"].astype(np.float32))
    np.testing.assert_array_equal(subset.y, arrays["y"])


def test_exactly_the_budget_passes():
    assert check(reply(5), budget=5)[1] is None


def test_empty_reply_is_valid():
    subset, reason = check(reply(0))
    assert reason is None and len(subset) == 0


def test_unsigned_and_integer_pixels_pass():
    subset, reason = check(reply(x=np.zeros((4, *SHAPE), np.uint8), y=np.array([0, 1, 2, 0], np.uint8)))
    assert reason is None and subset.x.dtype == np.float32


BAD = {
    "missing x": (dict(x=None), "missing array 'x'"),
    "missing y": (dict(y=None), "missing array 'y'"),
    "missing indices": (dict(indices=None), "missing array 'indices'"),
    "x a list": (dict(x=[[0.0] * 3] * 2), "array 'x' is a list, not an array"),
    "indices a tuple": (dict(indices=(1, 2, 3, 4)), "array 'indices' is a tuple"),
    "x strings": (dict(x=np.full((4, *SHAPE), "a")), "x has dtype <U1, expected numbers"),
    "x object": (dict(x=np.zeros((4, *SHAPE), dtype=object)), "x has dtype object"),
    "x complex": (dict(x=np.zeros((4, *SHAPE), dtype=complex)), "x has dtype complex128"),
    "y float": (dict(y=np.array([0.0, 1.0, 2.0, 0.0])), "y has dtype float64, expected integer labels"),
    "y bool": (dict(y=np.array([True, False, True, False])), "y has dtype bool"),
    "indices float": (dict(indices=np.array([1.0, 2.0, 3.0, 4.0])), "indices have dtype float64"),
    "y 2-d": (dict(y=np.zeros((4, 1), np.int64)), "y and indices must be 1-d"),
    "indices 2-d": (dict(indices=np.arange(4).reshape(2, 2)), "y and indices must be 1-d"),
    "wrong sample shape": (dict(x=np.zeros((4, 3, 2))), "x has shape (4, 3, 2), expected (n, 2, 3)"),
    "flat samples": (dict(x=np.zeros((4, 6))), "x has shape (4, 6), expected (n, 2, 3)"),
    "extra axis": (dict(x=np.zeros((4, 1, 2, 3))), "expected (n, 2, 3)"),
    "x shorter": (dict(x=np.zeros((3, *SHAPE))), "disagree in length (3, 4, 4)"),
    "indices longer": (dict(indices=np.arange(5)), "disagree in length (4, 4, 5)"),
    "nan": (dict(x=np.where(np.arange(24).reshape(4, *SHAPE) == 7, np.nan, 0.0)), "NaN or inf"),
    "inf": (dict(x=np.where(np.arange(24).reshape(4, *SHAPE) == 7, -np.inf, 0.0)), "NaN or inf"),
    "label too high": (dict(y=np.array([0, 1, 3, 0])), "labels outside 0..2 (found 0..3)"),
    "label negative": (dict(y=np.array([0, -1, 2, 0])), "labels outside 0..2 (found -1..2)"),
    "negative index": (dict(indices=np.array([0, -2, 5, 6])), "negative owner indices"),
    "duplicate index": (dict(indices=np.array([3, 7, 3, 3])), "2 duplicate indices"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_rejection_reasons(case):
    overrides, words = BAD[case]
    subset, reason = check(reply(**overrides))
    assert subset is None
    assert words in reason and "\n" not in reason


def test_over_budget_is_rejected_whole():
    subset, reason = check(reply(6), budget=5)
    assert subset is None and reason == "6 samples exceed the budget of 5"


def test_no_budget_allows_any_size():
    subset, reason = check(reply(500), budget=None)
    assert reason is None and len(subset) == 500


def test_no_budget_still_checks_the_rest():
    assert "NaN" in check(reply(x=np.full((4, *SHAPE), np.nan)), budget=None)[1]
