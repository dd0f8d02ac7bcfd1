import numpy as np
import pytest

from mycroft_fl.owner.budget import interleave
from mycroft_fl.owner.retrieval import normalize_rows, select_retrieval


def _data(seed, n=300, m=20, dim=8, n_classes=4):
    rng = np.random.default_rng(seed)
    owner_e = rng.normal(size=(n, dim)) * rng.uniform(0.5, 3.0, size=(n, 1))
    owner_y = rng.integers(0, n_classes, size=n)
    hard_e = rng.normal(size=(m, dim))
    hard_y = rng.integers(0, n_classes + 1, size=m)  # class n_classes: no owner candidates
    return owner_e, owner_y, hard_e, hard_y


def _nearest_same_label(owner_e, owner_y, hard_e, hard_y):
    """Brute force: for each hard sample with candidates, its nearest same-label owner sample."""
    owner_n, hard_n = normalize_rows(owner_e), normalize_rows(hard_e)
    nearest = {}
    for q in range(len(hard_y)):
        candidates = np.flatnonzero(owner_y == hard_y[q])
        if len(candidates):
            nearest[q] = candidates[
                np.argmin(np.linalg.norm(owner_n[candidates] - hard_n[q], axis=1))
            ]
    return nearest


@pytest.mark.parametrize("seed", range(5))
def test_covers_every_hard_sample_with_same_label_picks(seed):
    owner_e, owner_y, hard_e, hard_y = _data(seed)
    nearest = _nearest_same_label(owner_e, owner_y, hard_e, hard_y)
    for budget in (len(nearest), len(nearest) + 7, 500):
        picks = select_retrieval(owner_e, owner_y, hard_e, hard_y, budget)
        assert picks.dtype == np.int64
        assert len(picks) == len(set(picks.tolist())) <= budget
        assert set(owner_y[picks].tolist()) <= set(hard_y.tolist())
        assert set(nearest.values()) <= set(picks.tolist())
    # the whole of each hard class's candidates once the budget allows
    relevant = np.isin(owner_y, hard_y)
    assert set(select_retrieval(owner_e, owner_y, hard_e, hard_y, 10_000).tolist()) == set(
        np.flatnonzero(relevant).tolist()
    )


def test_round_robin_order_and_class_fairness():
    # class 0 has three hard samples, class 1 one; owner samples sit at known distances
    owner_e = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [1.0, 1.0]])
    owner_y = np.array([0, 0, 1, 1, 0])
    hard_e = np.array([[1.0, 0.0], [1.0, 0.01], [1.0, 1.0], [0.0, 1.0]])
    hard_y = np.array([0, 0, 0, 1])
    # visit order: hard 0 (class 0), hard 3 (class 1), hard 1, hard 2; hard 1's nearest (0) is taken
    assert select_retrieval(owner_e, owner_y, hard_e, hard_y, 2).tolist() == [0, 2]
    assert select_retrieval(owner_e, owner_y, hard_e, hard_y, 4).tolist() == [0, 2, 1, 4]
    assert select_retrieval(owner_e, owner_y, hard_e, hard_y, 9).tolist() == [0, 2, 1, 4, 3]


def test_deterministic_and_scale_free():
    owner_e, owner_y, hard_e, hard_y = _data(7)
    first = select_retrieval(owner_e, owner_y, hard_e, hard_y, 40)
    np.testing.assert_array_equal(
        first, select_retrieval(owner_e * 5, owner_y, hard_e * 0.1, hard_y, 40)
    )
    # equal distances go to the smaller index, also past the depth the ranking looks at
    same = np.ones((6, 2))
    assert select_retrieval(
        same, np.zeros(6, np.int64), same[:1], np.zeros(1, np.int64), 2
    ).tolist() == [0, 1]


def test_interleave_is_rank_major():
    groups = [np.array([10, 11, 12]), np.array([20]), np.array([30, 31])]
    assert interleave(groups).tolist() == [10, 20, 30, 11, 31, 12]
    assert interleave([]).tolist() == []


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"budget": 0}, "budget"),
        ({"owner_y": np.zeros(3, dtype=np.int64)}, "owner_y"),
        ({"hard_embeddings": np.ones((2, 5))}, "hard_embeddings"),
        ({"hard_y": np.array([0.5, 1.0])}, "hard_y"),
        ({"owner_embeddings": np.ones(4)}, "owner_embeddings"),
    ],
)
def test_rejects_bad_input(change, word):
    args = {
        "owner_embeddings": np.ones((4, 3)),
        "owner_y": np.zeros(4, dtype=np.int64),
        "hard_embeddings": np.ones((2, 3)),
        "hard_y": np.zeros(2, dtype=np.int64),
        "budget": 2,
    } | change
    with pytest.raises(ValueError, match=word):
        select_retrieval(**args)
