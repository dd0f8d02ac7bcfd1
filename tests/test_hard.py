"""Hard samples: the validation mistakes, split per class into a query part and a held-out eval part."""

import numpy as np
import pytest

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.trainer.hard import split_hard_samples


def val_with_mistakes(wrong_per_class: dict[int, int], right_per_class: int = 4, seed: int = 0):
    """A validation set with `wrong_per_class[c]` mistakes in class c, in shuffled order."""
    y, pred = [], []
    for c in range(5):
        n_wrong = wrong_per_class.get(c, 0)
        y += [c] * (n_wrong + right_per_class)
        pred += [(c + 1) % 5] * n_wrong + [c] * right_per_class
    order = np.random.default_rng(seed).permutation(len(y))
    y, pred = np.array(y)[order], np.array(pred)[order]
    return Dataset(np.zeros((len(y), 2), np.float32), y.astype(np.int64)), pred


def per_class(val, idx):
    return {int(c): int(n) for c, n in zip(*np.unique(val.y[idx], return_counts=True))}


def test_only_misclassified_samples():
    val, pred = val_with_mistakes({0: 5, 2: 3, 4: 1})
    split = split_hard_samples(val, pred)
    hard = np.concatenate([split.query, split.eval])
    assert np.all(pred[hard] != val.y[hard])
    assert sorted(hard) == list(np.flatnonzero(pred != val.y))  # all of them, each once


def test_query_and_eval_are_disjoint_and_sorted():
    val, pred = val_with_mistakes({0: 7, 1: 4, 3: 2})
    split = split_hard_samples(val, pred)
    assert not set(split.query) & set(split.eval)
    assert list(split.query) == sorted(split.query) and list(split.eval) == sorted(split.eval)
    assert split.query.dtype.kind == "i" and split.eval.dtype.kind == "i"


@pytest.mark.parametrize(
    "n, fraction, n_query",
    [
        (1, 0.5, 1),  # a single hard sample goes to the query part
        (2, 0.5, 1),
        (2, 0.1, 1),  # round(0.2) = 0, but both parts get one
        (2, 0.9, 1),  # round(1.8) = 2, but eval keeps one
        (3, 0.9, 2),
        (4, 0.5, 2),
        (5, 0.5, 2),  # round(2.5) = 2
        (7, 0.5, 4),  # round(3.5) = 4
        (10, 0.3, 3),
        (10, 0.05, 1),
        (10, 0.99, 9),
    ],
)
def test_per_class_split_rule(n, fraction, n_query):
    val, pred = val_with_mistakes({1: n, 3: 4})
    split = split_hard_samples(val, pred, query_fraction=fraction)
    q, e = per_class(val, split.query), per_class(val, split.eval)
    assert q[1] == n_query
    assert e.get(1, 0) == n - n_query
    if n >= 2:
        assert q[1] >= 1 and e[1] >= 1


def test_classes_restricts_the_true_labels():
    val, pred = val_with_mistakes({0: 3, 1: 4, 2: 5})
    split = split_hard_samples(val, pred, classes=[1, 2, 4])
    hard = np.concatenate([split.query, split.eval])
    assert set(val.y[hard]) == {1, 2}
    assert len(hard) == 9
    assert split.classes(val) == [1, 2]


def test_classes_without_mistakes_is_an_error():
    val, pred = val_with_mistakes({0: 3})
    with pytest.raises(InputError, match=r"no mistakes .* in classes \[2, 3\]: no hard samples"):
        split_hard_samples(val, pred, classes=[2, 3])


def test_no_mistakes_is_an_error():
    val, pred = val_with_mistakes({})
    with pytest.raises(InputError, match="no hard samples"):
        split_hard_samples(val, pred)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_query_fraction_out_of_range(fraction):
    val, pred = val_with_mistakes({0: 3})
    with pytest.raises(InputError, match="query_fraction must be in"):
        split_hard_samples(val, pred, query_fraction=fraction)


def test_seeded_reproducibility():
    val, pred = val_with_mistakes({0: 20, 1: 20, 2: 9})
    a = split_hard_samples(val, pred, seed=3)
    b = split_hard_samples(val, pred, seed=3)
    np.testing.assert_array_equal(a.query, b.query)
    np.testing.assert_array_equal(a.eval, b.eval)
    others = [split_hard_samples(val, pred, seed=s).query for s in range(4, 8)]
    assert any(not np.array_equal(a.query, o) for o in others)
    assert all(
        per_class(val, o) == per_class(val, a.query) for o in others
    )  # same sizes, other samples
