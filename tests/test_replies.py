"""An owner's reply is checked before anything of it is used; every way to be wrong has a reason."""

import numpy as np
import pytest

from mycroft_fl.core.data import Dataset
from mycroft_fl.trust.replies import (
    MAX_ABS,
    REJECTIONS,
    check_reply,
    reason_kind,
    reference_range,
    reply_limits,
)

SHAPE = (2, 3)


def reply(n=4, **overrides):
    arrays = {
        "x": np.arange(n * 6, dtype=np.float64).reshape(n, *SHAPE),
        "y": np.arange(n, dtype=np.int32) % 3,
        "indices": np.arange(10, 10 + n, dtype=np.int64),
    }
    arrays.update(overrides)
    return arrays


def check(arrays, budget=5, **kwargs):
    return check_reply(
        arrays["x"],
        arrays["y"],
        arrays["indices"],
        sample_shape=SHAPE,
        n_classes=3,
        budget=budget,
        **kwargs,
    )


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
    subset, reason = check(
        reply(
            x=np.arange(24, dtype=np.uint8).reshape(4, *SHAPE), y=np.array([0, 1, 2, 0], np.uint8)
        )
    )
    assert reason is None and subset.x.dtype == np.float32


X = np.arange(24, dtype=np.float64).reshape(4, *SHAPE)

# case: (array overrides, extra check_reply arguments, kind in REJECTIONS, words the reason contains)
BAD = {
    "missing x": (dict(x=None), {}, "missing array", "missing array 'x'"),
    "missing y": (dict(y=None), {}, "missing array", "missing array 'y'"),
    "missing indices": (dict(indices=None), {}, "missing array", "missing array 'indices'"),
    "x a list": (dict(x=[[0.0] * 3] * 2), {}, "not an array", "array 'x' is a list, not an array"),
    "indices a tuple": (
        dict(indices=(1, 2, 3, 4)),
        {},
        "not an array",
        "array 'indices' is a tuple",
    ),
    "y a numpy scalar": (
        dict(y=np.int64(3)),
        {},
        "not an array",
        "array 'y' is a int64, not an array",
    ),
    "x a masked array": (
        dict(x=np.ma.masked_array(X)),
        {},
        "not an array",
        "array 'x' is a MaskedArray",
    ),
    "x 0-d": (dict(x=np.array(1.5)), {}, "0-d array", "array 'x' is 0-d"),
    "y 0-d": (
        dict(y=np.array(2)),
        {},
        "0-d array",
        "array 'y' is 0-d, expected one entry per sample",
    ),
    "indices 0-d": (dict(indices=np.array(7)), {}, "0-d array", "array 'indices' is 0-d"),
    "x strings": (
        dict(x=np.full((4, *SHAPE), "a")),
        {},
        "x not numeric",
        "x has dtype <U1, expected numbers",
    ),
    "x object": (
        dict(x=np.zeros((4, *SHAPE), dtype=object)),
        {},
        "x not numeric",
        "x has dtype object",
    ),
    "x datetimes": (
        dict(x=np.zeros((4, *SHAPE), dtype="datetime64[s]")),
        {},
        "x not numeric",
        "x has dtype datetime64",
    ),
    "x bool": (
        dict(x=X > 5),
        {},
        "x boolean",
        "x has dtype bool, expected numbers, not true/false",
    ),
    "x complex": (
        dict(x=np.zeros((4, *SHAPE), dtype=complex)),
        {},
        "x complex",
        "x has dtype complex128, expected real numbers",
    ),
    "y float": (
        dict(y=np.array([0.0, 1.0, 2.0, 0.0])),
        {},
        "y not integer",
        "y has dtype float64, expected integer labels",
    ),
    "y strings": (dict(y=np.array(["0", "1", "2", "0"])), {}, "y not integer", "y has dtype <U1"),
    "y bool": (
        dict(y=np.array([True, False, True, False])),
        {},
        "y boolean",
        "y has dtype bool, expected integer labels, not true/false",
    ),
    "indices float": (
        dict(indices=np.array([1.0, 2.0, 3.0, 4.0])),
        {},
        "indices not integer",
        "indices have dtype float64, expected integers",
    ),
    "indices bool": (
        dict(indices=np.array([True, False, True, False])),
        {},
        "indices not integer",
        "indices have dtype bool",
    ),
    "y 2-d": (
        dict(y=np.zeros((4, 1), np.int64)),
        {},
        "y or indices not 1-d",
        "y and indices must be 1-d",
    ),
    "indices 2-d": (
        dict(indices=np.arange(4).reshape(2, 2)),
        {},
        "y or indices not 1-d",
        "y and indices must be 1-d, got shapes (4,) and (2, 2)",
    ),
    "wrong sample shape": (
        dict(x=np.zeros((4, 3, 2))),
        {},
        "x wrong sample shape",
        "x has shape (4, 3, 2), expected (n, 2, 3): wrong sample shape",
    ),
    "flat samples": (
        dict(x=np.zeros((4, 6))),
        {},
        "x wrong number of axes",
        "x has shape (4, 6), expected (n, 2, 3): 2 axes instead of 3",
    ),
    "extra axis": (
        dict(x=np.zeros((4, 1, 2, 3))),
        {},
        "x wrong number of axes",
        "expected (n, 2, 3): 4 axes",
    ),
    "x 1-d": (dict(x=np.zeros(4)), {}, "x wrong number of axes", "1 axes instead of 3"),
    "x shorter": (
        dict(x=np.zeros((3, *SHAPE))),
        {},
        "length mismatch",
        "disagree in length (3, 4, 4)",
    ),
    "indices longer": (
        dict(indices=np.arange(5)),
        {},
        "length mismatch",
        "disagree in length (4, 4, 5)",
    ),
    "over budget": ({}, dict(budget=3), "over budget", "4 samples exceed the budget of 3"),
    "local size negative": (
        {},
        dict(local_size=-1),
        "invalid local size",
        "owner declared an invalid local size (-1)",
    ),
    "local size nan": (
        {},
        dict(local_size=float("nan")),
        "invalid local size",
        "invalid local size (nan)",
    ),
    "local size fractional": (
        {},
        dict(local_size=12.5),
        "invalid local size",
        "invalid local size (12.5)",
    ),
    "local size a string": (
        {},
        dict(local_size="120"),
        "invalid local size",
        "invalid local size ('120')",
    ),
    "local size bool": (
        {},
        dict(local_size=True),
        "invalid local size",
        "invalid local size (True)",
    ),
    "nan": (
        dict(x=np.where(X == 7, np.nan, X)),
        {},
        "NaN",
        "x contains NaN or inf (NaN in 1 of 4 samples)",
    ),
    "nan float16": (
        dict(x=np.where(X == 7, np.nan, X).astype(np.float16)),
        {},
        "NaN",
        "NaN in 1 of 4",
    ),
    "inf": (
        dict(x=np.where(X == 7, -np.inf, X)),
        {},
        "inf",
        "x contains NaN or inf (inf in 1 of 4 samples)",
    ),
    "beyond float32": (
        dict(x=np.where(X == 7, 1e300, X)),
        dict(max_abs=None),
        "beyond float32",
        "x has values too large for float32 (up to 1e+300)",
    ),
    "huge values": (
        dict(x=np.where(X == 7, -3e7, X)),
        {},
        "absurd magnitude",
        "x has values of magnitude up to 3e+07, beyond the limit of 1e+06",
    ),
    "most negative int64": (
        dict(x=np.where(X == 7, np.iinfo(np.int64).min, X.astype(np.int64))),
        {},
        "absurd magnitude",
        "magnitude up to 9.22337e+18",
    ),
    "huge uint64": (
        dict(
            x=np.full((4, *SHAPE), 2**63, np.uint64)
            + np.arange(24, dtype=np.uint64).reshape(4, *SHAPE)
        ),
        {},
        "absurd magnitude",
        "beyond the limit of 1e+06",
    ),
    "below the own limit": (
        dict(x=X + 100),
        dict(max_abs=50),
        "absurd magnitude",
        "up to 123, beyond the limit of 50",
    ),
    "out of domain": (
        dict(x=X + 100),
        dict(value_range=(-16.0, 32.0)),
        "outside reference range",
        "x has values outside the reference range -16..32 (found 100..123)",
    ),
    "label too high": (
        dict(y=np.array([0, 1, 3, 0])),
        {},
        "labels out of range",
        "labels outside 0..2 (found 0..3)",
    ),
    "label negative": (
        dict(y=np.array([0, -1, 2, 0])),
        {},
        "labels out of range",
        "labels outside 0..2 (found -1..2)",
    ),
    "label huge uint64": (
        dict(y=np.array([0, 2**64 - 1, 2, 0], np.uint64)),
        {},
        "labels out of range",
        "labels outside 0..2 (found 0..18446744073709551615)",
    ),
    "label not a hard class": (
        dict(y=np.array([2, 1, 2, 0])),
        dict(allowed_labels=[2]),
        "labels not allowed",
        "labels outside the allowed classes 2 (found 0, 1)",
    ),
    "negative index": (
        dict(indices=np.array([0, -2, 5, 6])),
        {},
        "negative indices",
        "1 negative owner indices",
    ),
    "index beyond local size": (
        {},
        dict(local_size=12),
        "indices beyond local size",
        "owner indices up to 13 but the owner declared 12 samples",
    ),
    "indices of an empty owner": (
        {},
        dict(local_size=0),
        "indices beyond local size",
        "declared 0 samples",
    ),
    "duplicate index": (
        dict(indices=np.array([3, 7, 3, 3])),
        {},
        "duplicate indices",
        "2 duplicate indices",
    ),
    "duplicate samples": (
        dict(x=np.stack([X[1], X[1], X[1], X[1]])),
        dict(max_padding=0.5),
        "duplicate samples",
        "3 of 4 samples repeat another sample exactly (padding: more than 2)",
    ),
    "signed zero copies": (
        dict(x=np.stack([X[1] * 0, -X[1] * 0, X[1] * 0, -X[1] * 0])),
        dict(max_padding=0.5),
        "duplicate samples",
        "3 of 4 samples repeat",
    ),
    "constant samples": (
        dict(x=np.stack([np.full(SHAPE, v) for v in (1.0, 2.0, 3.0, 0.5)])),
        {},
        "constant samples",
        "4 of 4 samples are constant, every value the same (padding: more than 3)",
    ),
    "half constant": (
        dict(
            x=np.stack([np.full(SHAPE, v) for v in (1.0, 2.0, 3.0, 0.5)])
            + (np.arange(4) == 3)[:, None, None] * X[1]
        ),
        dict(max_padding=0.5),
        "constant samples",
        "3 of 4 samples are constant",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_rejection_reasons(case):
    overrides, kwargs, kind, words = BAD[case]
    subset, reason = check(reply(**overrides), **kwargs)
    assert subset is None
    assert words in reason and "\n" not in reason
    assert reason_kind(reason) == kind


def test_every_kind_of_malformed_reply_has_a_case():
    assert set(REJECTIONS) == {kind for _, _, kind, _ in BAD.values()}
    assert len(REJECTIONS) >= 20


def test_reasons_are_one_line_templates():
    assert all("\n" not in t for t in REJECTIONS.values())
    assert reason_kind("something else entirely") is None


def test_optional_checks_pass_a_good_reply():
    arrays = reply()
    subset, reason = check(
        arrays, local_size=14, allowed_labels=[0, 1, 2], max_abs=23, value_range=(0, 23)
    )
    assert reason is None and len(subset) == 4


def test_padding_is_more_than_three_quarters_copies_or_constant():
    assert check(reply(x=np.stack([X[0], X[1], X[1], X[1]])))[1] is None  # 2 copies in 4
    assert (
        check(reply(x=np.stack([X[2], X[2], X[2], X[2]])))[1] is None
    )  # 3 copies in 4: not more than 3/4
    padded = reply(8, x=np.repeat(X[:1], 8, axis=0), indices=np.arange(8))
    assert (
        check(padded, budget=8)[1]
        == "7 of 8 samples repeat another sample exactly (padding: more than 6)"
    )
    eight = np.concatenate([X, X])  # every sample twice, 4 copies in 8: honest data with duplicates
    assert check(reply(8, x=eight, indices=np.arange(8)), budget=8)[1] is None
    three_constant = np.stack([np.zeros(SHAPE), np.ones(SHAPE), np.full(SHAPE, 2.0), X[3]])
    assert check(reply(x=three_constant))[1] is None
    assert (
        check(reply(x=three_constant), max_padding=0.5)[1]
        == "3 of 4 samples are constant, every value the same (padding: more than 2)"
    )


def test_padding_is_checked_only_in_budgeted_replies_and_can_be_turned_off():
    zeros = reply(8, x=np.zeros((8, *SHAPE)), indices=np.arange(8))
    assert (
        check(zeros, budget=None)[1] is None
    )  # full information: a whole dataset, duplicates and all
    assert check(zeros, budget=8, max_padding=None)[1] is None
    assert "repeat another sample" in check(zeros, budget=8)[1]


def test_empty_reply_passes_every_check():
    subset, reason = check(
        reply(0), local_size=0, allowed_labels=[1], value_range=(0, 1), max_abs=1
    )
    assert reason is None and len(subset) == 0


def test_integral_float_local_size_is_accepted():
    assert check(reply(), local_size=14.0)[1] is None
    assert check(reply(), local_size=np.int32(14))[1] is None


def test_reference_range_widens_the_trainer_range():
    assert reference_range(np.array([[0.0, 16.0]])) == (-160.0, 176.0)
    assert reference_range(np.array([[0.0, 16.0]]), margin=1) == (-16.0, 32.0)
    assert reference_range(np.array([[2.0, 2.0]]), margin=0.5) == (1.5, 2.5)


def test_reply_limits_reject_values_a_thousand_times_too_large_but_not_the_trainer_scale():
    digits = reply_limits(np.array([[0.0, 16.0]]))
    assert digits == {"value_range": (-160.0, 176.0), "max_abs": MAX_ABS}
    assert "outside the reference range" in check(reply(x=X * 1000), **digits)[1]
    money = reply_limits(np.array([[0.0, 8e5]]))  # a trainer whose own data exceed MAX_ABS
    assert money["max_abs"] == 8.8e6
    assert check(reply(x=X * 1e5), **money)[1] is None
    assert "beyond the limit of 8.8e+06" in check(reply(x=X * 1e6), **money)[1]


def test_over_budget_is_rejected_whole():
    subset, reason = check(reply(6), budget=5)
    assert subset is None and reason == "6 samples exceed the budget of 5"


def test_no_budget_allows_any_size():
    subset, reason = check(reply(500), budget=None)
    assert reason is None and len(subset) == 500


def test_no_budget_still_checks_the_rest():
    assert "NaN" in check(reply(x=np.full((4, *SHAPE), np.nan)), budget=None)[1]
