import numpy as np
import pytest

from mycroft_fl.owner.budget import share_budget
from mycroft_fl.owner.gradients import last_layer_gradients
from mycroft_fl.owner.omp import geometric_median
from mycroft_fl.owner.retrieval import normalize_rows
from mycroft_fl.owner.selectors import (
    SELECTORS,
    HardView,
    OwnerView,
    anchor_distance2,
    make_selector,
    nearest_distance2,
)

HARD_CLASSES = (1, 3, 4)
METHODS = tuple(SELECTORS)


def select(name, owner, hard, budget, *, seed=0, **params):
    """The selector `name` with `params`, applied."""
    return make_selector(name, **params).select(owner, hard, budget, seed=seed)


def _views(seed=0, n=600, d=12, n_classes=5, e=6):
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(n_classes, d))

    def sample(m, labels):
        features = np.maximum(rng.normal(size=(m, d)) + weight[labels] * 0.3, 0).astype(np.float32)
        embeddings = (rng.normal(size=(m, e)) + np.eye(n_classes, e)[labels] * 2).astype(np.float32)
        return last_layer_gradients(features, features @ weight.T, labels), embeddings

    owner_y = rng.integers(0, n_classes, size=n)
    owner_g, owner_e = sample(n, owner_y)
    hard_y = np.repeat(HARD_CLASSES, [5, 3, 8])
    hard_g, hard_e = sample(len(hard_y), hard_y)
    targets = {c: hard_g[hard_y == c].sum(axis=0) for c in HARD_CLASSES}
    return OwnerView(owner_y, owner_e, owner_g), HardView(hard_y, hard_e, targets)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("budget", [1, 7, 40])
def test_returns_unique_hard_class_indices_within_budget(method, budget):
    owner, hard = _views()
    picks = select(method, owner, hard, budget)
    assert picks.dtype == np.int64
    assert len(picks) == len(set(picks.tolist()))
    if method == "all-data":  # the owner's whole dataset, every class
        np.testing.assert_array_equal(picks, np.arange(len(owner.y)))
        return
    assert set(owner.y[picks].tolist()) <= set(HARD_CLASSES)
    if method == "full-information":
        assert set(picks.tolist()) == set(np.flatnonzero(np.isin(owner.y, HARD_CLASSES)).tolist())
    else:
        assert 0 < len(picks) <= budget


@pytest.mark.parametrize("method", ["gradmatch", "mycroft", "random"])
def test_budget_shared_over_hard_classes_and_interleaved(method):
    owner, hard = _views()
    budget = 32
    picks = select(method, owner, hard, budget)
    capacity = {c: int(np.sum(owner.y == c)) for c in HARD_CLASSES}
    shares = share_budget(hard.counts, budget, capacity)
    per_class = {c: int(np.sum(owner.y[picks] == c)) for c in HARD_CLASSES}
    assert all(per_class[c] <= shares[c] for c in HARD_CLASSES)
    if method == "random":
        assert per_class == shares
    assert sorted(owner.y[picks[:3]].tolist()) == list(
        HARD_CLASSES
    )  # first pick of each class first


def test_random_is_reproducible_by_seed():
    owner, hard = _views()
    first = select("random", owner, hard, 20, seed=3)
    np.testing.assert_array_equal(first, select("random", owner, hard, 20, seed=3))
    assert not np.array_equal(np.sort(first), np.sort(select("random", owner, hard, 20, seed=4)))


def test_mycroft_penalty_pulls_picks_towards_the_hard_samples():
    owner, hard = _views()

    def mean_distance(picks):
        return np.mean(
            [
                np.sqrt(
                    nearest_distance2(owner.embeddings[mine], hard.embeddings[hard.y == c])
                ).mean()
                for c in HARD_CLASSES
                for mine in [picks[owner.y[picks] == c]]
            ]
        )

    loose = select("mycroft", owner, hard, 30, penalty=0.0)
    tight = select("mycroft", owner, hard, 30, penalty=50.0)
    assert mean_distance(tight) < mean_distance(loose)
    np.testing.assert_array_equal(
        loose, select("gradmatch", owner, hard, 30)
    )  # no penalty, no difference


def test_mycroft_prefers_the_candidate_near_a_hard_sample_among_equally_useful_ones():
    # two candidates with the same gradient; the one lying on a hard sample is picked first
    hard = HardView(np.array([1, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]), {1: np.array([1.0, 0.0])})
    owner = OwnerView(
        np.array([1, 1, 1]),
        np.array([[-1.0, -1.0], [1.0, 0.1], [0.7, 0.7]]),
        np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
    )
    assert select("gradmatch", owner, hard, 1).tolist() == [0]  # tie: smaller index
    assert select("mycroft", owner, hard, 1).tolist() == [1]


def test_nearest_distance2_is_the_squared_distance_of_unit_vectors():
    rng = np.random.default_rng(0)
    points, refs = rng.normal(size=(50, 4)), rng.normal(size=(7, 4))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    expected = (((unit(points)[:, None] - unit(refs)[None]) ** 2).sum(axis=2)).min(axis=1)
    np.testing.assert_allclose(nearest_distance2(points, refs, chunk=8), expected, atol=1e-12)
    np.testing.assert_allclose(nearest_distance2(points * 3, refs * 0.1), expected, atol=1e-12)


def test_penalty_is_free_of_the_gradient_scale():
    owner, hard = _views()
    scaled_owner = OwnerView(owner.y, owner.embeddings, owner.gradients * 10)
    scaled_hard = HardView(hard.y, hard.embeddings, {c: t * 10 for c, t in hard.targets.items()})
    # with the ridge scaled alike (ridge weighs w², so by 10²) the problem is the same up to a factor
    np.testing.assert_array_equal(
        select("mycroft", owner, hard, 25, ridge=0.5),
        select("mycroft", scaled_owner, scaled_hard, 25, ridge=50.0),
    )


def test_classes_without_owner_samples_get_nothing():
    owner, hard = _views()
    hard = HardView(
        np.append(hard.y, 9), np.vstack([hard.embeddings, hard.embeddings[:1]]), hard.targets
    )
    for method in ("random", "retrieval", "full-information"):
        assert 9 not in owner.y[select(method, owner, hard, 30)]


def _narrow(hard):
    return HardView(hard.y, hard.embeddings[:, :3], hard.targets)


def _targets(hard, targets):
    return HardView(hard.y, hard.embeddings, targets)


BAD_CALLS = {
    "unknown selector": (
        lambda o, h: select("bogus", o, h, 5),
        "unknown selector 'bogus': use one of mycroft",
    ),
    "unknown parameter": (
        lambda o, h: select("gradmatch", o, h, 5, penalty=1.0),
        "unknown parameter 'penalty'",
    ),
    "budget 0": (lambda o, h: select("random", o, h, 0), "budget"),
    "budget not int": (lambda o, h: select("random", o, h, 2.5), "budget"),
    "no gradients": (
        lambda o, h: select("gradmatch", OwnerView(o.y, o.embeddings), h, 5),
        "owner.gradients",
    ),
    "no targets": (
        lambda o, h: select("gradmatch", o, HardView(h.y, h.embeddings), 5),
        "hard.targets",
    ),
    "short target": (
        lambda o, h: select(
            "gradmatch", o, _targets(h, {c: t[:-1] for c, t in h.targets.items()}), 5
        ),
        r"hard.targets\[1\]",
    ),
    "target missing": (
        lambda o, h: select("gradmatch", o, _targets(h, {1: h.targets[1]}), 5),
        "hard.targets",
    ),
    "no owner embeddings": (
        lambda o, h: select("mycroft", OwnerView(o.y, None, o.gradients), h, 5),
        "owner.embeddings",
    ),
    "no hard embeddings": (
        lambda o, h: select("retrieval", o, HardView(h.y), 5),
        "hard.embeddings",
    ),
    "embedding width": (lambda o, h: select("retrieval", o, _narrow(h), 5), "hard.embeddings"),
    "negative penalty": (lambda o, h: select("mycroft", o, h, 5, penalty=-1.0), "penalty"),
    "zero ridge": (lambda o, h: select("mycroft", o, h, 5, ridge=0.0), "ridge"),
    "ensemble 0": (
        lambda o, h: select("gradmatch", o, h, 5, ensemble=0),
        "ensemble must be an integer >= 1, got 0",
    ),
    "ensemble not int": (lambda o, h: select("mycroft", o, h, 5, ensemble=2.0), "ensemble"),
    "ensemble bool": (lambda o, h: select("mycroft", o, h, 5, ensemble=True), "ensemble"),
    "dropout 1": (
        lambda o, h: select("mycroft", o, h, 5, dropout=1.0),
        r"dropout must be a number in \[0, 1\), got 1.0",
    ),
    "negative dropout": (lambda o, h: select("gradmatch", o, h, 5, dropout=-0.1), "dropout"),
    "ensemble of retrieval": (
        lambda o, h: select("retrieval", o, h, 5, ensemble=4),
        "unknown parameter 'ensemble'",
    ),
    "negative seed": (lambda o, h: select("random", o, h, 5, seed=-1), "seed"),
    "unknown anchor": (
        lambda o, h: select("mycroft", o, h, 5, anchor="mean"),
        "anchor must be one of 'nearest'",
    ),
    "gradient rows": (
        lambda o, h: OwnerView(o.y, o.embeddings, o.gradients[:-1]),
        "owner.gradients",
    ),
    "float labels": (lambda o, h: OwnerView(o.y.astype(float), o.embeddings), "owner.y"),
    "hard embedding rows": (lambda o, h: HardView(h.y, h.embeddings[:-1]), "hard.embeddings"),
    "ragged targets": (
        lambda o, h: HardView(h.y, None, {1: np.ones(3), 3: np.ones(4)}),
        "hard.targets",
    ),
}


@pytest.mark.parametrize("case", BAD_CALLS)
def test_bad_arguments_raise_value_error_naming_them(case):
    call, message = BAD_CALLS[case]
    with pytest.raises(ValueError, match=message):
        call(*_views())


def test_unbudgeted_selectors_and_the_rules_a_reply_is_held_to():
    owner = OwnerView(np.array([0, 8, 2, 9, 9]))
    hard = HardView(np.array([9, 8, 9]))
    assert select("all-data", owner, hard, 2).tolist() == [0, 1, 2, 3, 4]
    assert select("full-information", owner, hard, 2).tolist() == [1, 3, 4]
    for name in METHODS:
        selector = make_selector(name)
        rules = selector.reply_rules(16, hard.y)
        assert rules["budget"] == (16 if selector.budgeted else None)
        assert rules["allowed_labels"] == (None if name == "all-data" else [8, 9])
    assert [m for m in METHODS if not SELECTORS[m].budgeted] == ["full-information", "all-data"]


def test_anchor_distances_to_the_nearest_hard_sample_or_their_geometric_median():
    rng = np.random.default_rng(3)
    points, refs = rng.normal(size=(20, 6)), rng.normal(size=(7, 6))
    np.testing.assert_allclose(
        anchor_distance2(points, refs, "nearest"), nearest_distance2(points, refs)
    )
    centre = geometric_median(normalize_rows(refs))
    np.testing.assert_allclose(
        anchor_distance2(points, refs, "geometric-median"),
        ((normalize_rows(points) - centre) ** 2).sum(axis=1),
    )


def test_the_papers_geometric_median_anchor_changes_which_candidates_mycroft_prefers():
    owner, hard = _views(seed=4)
    nearest = select("mycroft", owner, hard, 12, penalty=50.0)
    median = select("mycroft", owner, hard, 12, penalty=50.0, anchor="geometric-median")
    assert len(median) == len(nearest) and set(owner.y[median]) <= set(HARD_CLASSES)
    assert set(median.tolist()) != set(nearest.tolist())
    # with a heavy penalty the picks lie closer to their anchor than the candidates do on average
    for picks, anchor in ((nearest, "nearest"), (median, "geometric-median")):
        for c in HARD_CLASSES:
            cand = np.flatnonzero(owner.y == c)
            d = anchor_distance2(owner.embeddings[cand], hard.embeddings[hard.y == c], anchor)
            chosen = np.isin(cand, picks)
            assert d[chosen].mean() < d.mean(), (anchor, c)


def test_mycroft_fill_spends_the_quota_matching_leaves_on_the_candidates_nearest_the_hard_samples():
    # one hard sample with gradient (1, 0): only candidate 0 correlates positively, so matching
    # stops after one pick; fill gives the rest of the budget to the nearest others, nearest first
    hard = HardView(np.array([1]), np.array([[1.0, 0.0]]), {1: np.array([1.0, 0.0])})
    owner = OwnerView(
        np.array([1, 1, 1, 1, 0]),
        np.array([[1.0, 0.0], [-1.0, 0.1], [0.9, 0.3], [0.5, 0.9], [1.0, 0.0]]),
        np.array([[1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [1.0, 0.0]]),
    )
    assert select("mycroft", owner, hard, 3).tolist() == [0]
    assert select("mycroft", owner, hard, 3, fill=True).tolist() == [0, 2, 3]
    assert select("mycroft", owner, hard, 9, fill=True).tolist() == [0, 2, 3, 1]  # class 1 only
    assert select("mycroft", owner, hard, 1, fill=True).tolist() == [0]
