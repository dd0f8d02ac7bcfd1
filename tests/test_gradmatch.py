import itertools
import tracemalloc

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from mycroft_fl.owner import gradients
from mycroft_fl.owner.budget import share_budget
from mycroft_fl.owner.gradients import dropout_factors, last_layer_factors, last_layer_gradients
from mycroft_fl.owner.omp import geometric_median, nonneg_ridge_omp
from mycroft_fl.owner.selectors import HardView, OwnerView, make_selector

# --- last_layer_gradients -------------------------------------------------------------------------


def test_last_layer_gradients_match_torch_autograd():
    torch.manual_seed(0)
    n, d, n_classes = 7, 5, 4
    features = torch.randn(n, d)
    head = torch.nn.Linear(d, n_classes)
    y = torch.tensor([0, 1, 2, 3, 3, 0, 2])
    expected = []
    for i in range(n):
        head.zero_grad()
        torch.nn.functional.cross_entropy(head(features[i : i + 1]), y[i : i + 1]).backward()
        expected.append(
            torch.cat([head.weight.grad, head.bias.grad[:, None]], dim=1).flatten().numpy().copy()
        )
    with torch.no_grad():
        logits = head(features).numpy()
    got = last_layer_gradients(features.numpy(), logits, y.numpy())
    assert got.shape == (n, n_classes * (d + 1))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.stack(expected), atol=1e-6)


def test_last_layer_gradients_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
    g = last_layer_gradients(np.ones((1, 2), np.float32), logits, np.array([1]))
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g.reshape(3, 3)[:, 2], [1.0, -1.0, 0.0])


@pytest.mark.parametrize(
    ("features", "logits", "y", "word"),
    [
        (np.ones(3), np.ones((3, 2)), [0, 1, 0], "features"),
        (np.ones((3, 2)), np.ones((2, 2)), [0, 1, 0], "logits"),
        (np.ones((3, 2)), np.ones((3, 2)), [0, 1], "y"),
        (np.ones((3, 2)), np.ones((3, 2)), [0, 1, 2], "y"),
        (np.ones((3, 2)), np.full((3, 2), np.nan), [0, 1, 0], "logits"),
    ],
)
def test_last_layer_gradients_rejects_bad_input(features, logits, y, word):
    with pytest.raises(ValueError, match=word):
        last_layer_gradients(features, logits, np.asarray(y))


# --- factored gradients --------------------------------------------------------------------------


def _factored(seed, n=80, d=6, n_classes=5):
    """Owner and hard-sample gradients of a random linear head, factored."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(n_classes, d))

    def factors(m, labels):
        h = np.maximum(rng.normal(size=(m, d)) + weight[labels] * 0.5, 0).astype(np.float32)
        return last_layer_factors(h, (h @ weight.T).astype(np.float32), labels)

    owner_y = rng.integers(0, n_classes, size=n)
    hard_y = np.array([1, 1, 1, 3, 3])
    return owner_y, factors(n, owner_y), hard_y, factors(len(hard_y), hard_y)


def test_factored_products_equal_the_dense_ones(monkeypatch):
    monkeypatch.setattr(gradients, "BATCH_VALUES", 50)  # stream in batches of a few rows
    _, owner, _, hard = _factored(0)
    h1 = np.hstack([owner.h, np.ones((80, 1), np.float32)]).astype(np.float64)
    dense = (owner.p.astype(np.float64)[:, :, None] * h1[:, None, :]).reshape(80, -1)
    assert owner.shape == dense.shape == (80, 5 * 7) and len(owner) == 80
    np.testing.assert_allclose(owner.dense(), dense, rtol=1e-6)
    target = hard.total()
    np.testing.assert_allclose(target, hard.dense().astype(np.float64).sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(owner.dot(target), dense @ target, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(owner.gram_column(7), dense @ dense[7], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(owner[[3, 1]].dense(), owner.dense()[[3, 1]])


@pytest.mark.parametrize("seed", range(6))
def test_omp_on_factored_gradients_picks_as_on_dense_ones(seed):
    _, owner, _, hard = _factored(seed)
    penalty = np.random.default_rng(seed).random(len(owner)) if seed % 2 else None
    dense = nonneg_ridge_omp(owner.dense(), hard.total(), 6, penalty=penalty)
    factored = nonneg_ridge_omp(owner, hard.total(), 6, penalty=penalty)
    np.testing.assert_array_equal(factored[0], dense[0])
    np.testing.assert_allclose(factored[1], dense[1], rtol=1e-6)


@pytest.mark.parametrize("method", ["gradmatch", "mycroft"])
def test_selectors_take_factored_gradients(method):
    owner_y, owner, hard_y, hard = _factored(1)
    targets = {c: hard[hard_y == c].total() for c in (1, 3)}
    embeddings = np.random.default_rng(1).normal(size=(len(owner_y) + len(hard_y), 4))
    hard_view = HardView(hard_y, embeddings[len(owner_y) :], targets)
    selector = make_selector(method)
    picks = selector.select(OwnerView(owner_y, embeddings[: len(owner_y)], owner), hard_view, 9)
    dense = OwnerView(owner_y, embeddings[: len(owner_y)], owner.dense())
    np.testing.assert_array_equal(picks, selector.select(dense, hard_view, 9))
    with pytest.raises(ValueError, match="owner.gradients"):
        OwnerView(owner_y[:-1], None, owner)


def _ensemble(seed, ensemble=4, rate=0.5, n=60, d=6, n_classes=5):
    """Features, head and labels of a random linear head, and their gradients over dropout masks."""
    rng = np.random.default_rng(seed)
    weight, bias = rng.normal(size=(n_classes, d)), rng.normal(size=n_classes)
    h = np.maximum(rng.normal(size=(n, d)), 0).astype(np.float32)
    y = rng.integers(0, n_classes, size=n)
    grads = dropout_factors(h, weight, bias, y, ensemble=ensemble, rate=rate, seed=seed)
    return h, weight.astype(np.float32), bias.astype(np.float32), y, grads


def test_ensemble_gradients_are_the_average_over_masks_and_products_equal_the_dense_ones(
    monkeypatch,
):
    monkeypatch.setattr(gradients, "BATCH_VALUES", 50)
    h, weight, bias, y, grads = _ensemble(0)
    masks = grads.scales * 0.5  # inverted dropout at rate 0.5: kept features scaled by 2
    assert set(np.unique(masks)) == {0.0, 1.0} and len(masks) == 4
    members = [
        last_layer_gradients(h * s, (h * s) @ weight.T + bias, y).astype(np.float64)
        for s in grads.scales
    ]
    dense = np.mean(members, axis=0)  # (n, C·(d+1)): the average of the K dense gradients
    assert grads.shape == dense.shape and len(grads) == 60
    np.testing.assert_allclose(grads.dense(), dense, rtol=1e-5, atol=1e-6)
    target = grads[y == 2].total()
    np.testing.assert_allclose(target, dense[y == 2].sum(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads.dot(target), dense @ target, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads.gram_column(7), dense @ dense[7], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(grads[[3, 1]].dense(), grads.dense()[[3, 1]])
    picks = nonneg_ridge_omp(grads, target, 5)
    np.testing.assert_array_equal(picks[0], nonneg_ridge_omp(grads.dense(), target, 5)[0])


def test_dropout_masks_depend_on_the_seed_only():
    h, weight, bias, y, grads = _ensemble(3, ensemble=8, rate=0.25)
    again = dropout_factors(h[::-1][:9], weight, bias, y[::-1][:9], ensemble=8, rate=0.25, seed=3)
    np.testing.assert_array_equal(again.scales, grads.scales)  # same masks for any rows
    np.testing.assert_array_equal(again.p, grads.p[:, ::-1][:, :9])
    other = dropout_factors(h, weight, bias, y, ensemble=8, rate=0.25, seed=4)
    assert not np.array_equal(other.scales, grads.scales)
    assert 0.6 < (grads.scales > 0).mean() < 0.9  # about 1 - rate kept
    np.testing.assert_allclose(grads.scales[grads.scales > 0], 1 / 0.75)
    kept = dropout_factors(h, weight, bias, y, ensemble=2, rate=0.0, seed=3)
    plain = last_layer_factors(h, h @ weight.T + bias, y)
    np.testing.assert_allclose(kept.dense(), plain.dense(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"ensemble": 0}, "ensemble"),
        ({"rate": 1.0}, "rate"),
        ({"rate": -0.1}, "rate"),
        ({"seed": -1}, "seed"),
        ({"weight": np.ones((5, 4))}, "weight"),
        ({"bias": np.ones(4)}, "bias"),
    ],
)
def test_dropout_factors_reject_bad_input(kwargs, word):
    h, weight, bias, y, _ = _ensemble(0)
    args = {"weight": weight, "bias": bias, "ensemble": 2, "rate": 0.5, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=word):
        dropout_factors(h, args.pop("weight"), args.pop("bias"), y, **args)


def test_omp_on_factored_gradients_never_forms_them_densely():
    rng = np.random.default_rng(0)
    n, d, n_classes = 4000, 64, 50  # dense: 4000 × 3250 float64, 104 MB
    h = rng.random((n, d), dtype=np.float32)
    owner = last_layer_factors(h, rng.normal(size=(n, n_classes)), rng.integers(0, n_classes, n))
    target = owner[:5].total()
    tracemalloc.start()
    try:
        picks, _ = nonneg_ridge_omp(owner, target, 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(picks) > 0
    assert peak < 20e6  # the factors are 1.8 MB; one float32 dense copy alone would be 52 MB


# --- share_budget ---------------------------------------------------------------------------------


def test_share_budget_proportional_with_largest_remainder():
    shares = share_budget({0: 1, 1: 1, 2: 2}, 10, {0: 99, 1: 99, 2: 99})
    assert shares == {0: 3, 1: 2, 2: 5}  # 2.5 / 2.5 / 5: the tie for the spare unit goes to class 0


def test_share_budget_redistributes_what_a_capped_class_cannot_use():
    shares = share_budget({0: 8, 1: 1, 2: 1}, 10, {0: 2, 1: 50, 2: 50})
    assert shares == {0: 2, 1: 4, 2: 4}
    # a cap that only binds after redistribution: class 1 is capped in the second pass
    assert share_budget({0: 6, 1: 3, 2: 1}, 10, {0: 1, 1: 5, 2: 50}) == {0: 1, 1: 5, 2: 4}


def test_share_budget_never_exceeds_capacity_or_budget():
    rng = np.random.default_rng(0)
    for _ in range(300):
        classes = rng.choice(20, size=int(rng.integers(1, 6)), replace=False).tolist()
        counts = {c: int(rng.integers(0, 10)) for c in classes}
        capacity = {c: int(rng.integers(0, 10)) for c in classes if rng.random() < 0.9}
        budget = int(rng.integers(0, 40))
        shares = share_budget(counts, budget, capacity)
        assert set(shares) == set(counts)
        assert all(0 <= shares[c] <= capacity.get(c, 0) for c in counts)
        usable = sum(capacity.get(c, 0) for c in counts if counts[c] > 0)
        assert sum(shares.values()) == min(budget, usable)
        assert all(shares[c] == 0 for c in counts if counts[c] == 0)


@pytest.mark.parametrize(
    ("counts", "budget", "capacity", "word"),
    [
        ({0: 1}, -1, {0: 1}, "budget"),
        ({0: -1}, 1, {0: 1}, "counts"),
        ({0: 1}, 1, {0: 1.5}, "capacity"),
    ],
)
def test_share_budget_rejects_bad_input(counts, budget, capacity, word):
    with pytest.raises(ValueError, match=word):
        share_budget(counts, budget, capacity)


# --- nonneg_ridge_omp -----------------------------------------------------------------------------


def _objective(G, b, idx, w, ridge, penalty):
    residual = G[idx].T @ w - b
    diagonal = ridge + (penalty[idx] if penalty is not None else 0.0)
    return residual @ residual + np.sum(diagonal * w * w)


def _best_on_support(G, b, support, ridge, penalty):
    """Exact min over w >= 0 on `support`: NNLS on the ridge-augmented system [G_S; sqrt(diag)] w ≈ [b; 0]."""
    idx = list(support)
    diagonal = ridge + (penalty[idx] if penalty is not None else np.zeros(len(idx)))
    w, _ = nnls(
        np.vstack([G[idx].T, np.diag(np.sqrt(diagonal))]), np.concatenate([b, np.zeros(len(idx))])
    )
    return _objective(G, b, idx, w, ridge, penalty)


def _instance(seed, with_penalty):
    rng = np.random.default_rng(seed)
    n, dim, k = int(rng.integers(4, 13)), int(rng.integers(3, 9)), int(rng.integers(1, 4))
    G = rng.normal(size=(n, dim))
    if seed % 2:
        G += rng.normal(size=dim)  # correlated candidates, like same-class gradients
    b = G[rng.choice(n, 3, replace=False)].T @ rng.random(3) + 0.5 * rng.normal(size=dim)
    ridge = float(rng.choice([0.05, 0.5, 2.0]))
    penalty = rng.random(n) * rng.choice([0.5, 2.0, 10.0]) if with_penalty else None
    return G, b, k, ridge, penalty


# Worst ratio (greedy objective reduction / optimal reduction) measured over these 200 seeded instances:
# 0.265 with the paper's correlation rule (penalty None), 0.342 with the penalty (the same rule on the
# column-scaled problem). 60% resp. 70% of the instances are solved exactly. The bounds below are those
# figures rounded down. (The one-step-gain rule reached 0.818 here, but picked less useful data on the
# digits benchmark, so the selection does not use it: matching the hard gradients is only a proxy.)
@pytest.mark.parametrize(("with_penalty", "bound"), [(False, 0.26), (True, 0.34)])
def test_omp_close_to_brute_force_optimum(with_penalty, bound):
    worst = 1.0
    for seed in range(200):
        G, b, k, ridge, penalty = _instance(seed, with_penalty)
        idx, w = nonneg_ridge_omp(G, b, k, ridge=ridge, penalty=penalty)
        assert len(idx) <= k and len(set(idx.tolist())) == len(idx)
        assert (w >= 0).all()
        assert np.all(np.diff(w) <= 0)
        greedy = _objective(G, b, idx, w, ridge, penalty)
        if len(idx):  # the refit is the exact optimum on the chosen support
            assert greedy == pytest.approx(
                _best_on_support(G, b, idx, ridge, penalty), rel=1e-9, abs=1e-12
            )
        optimum = min(
            _best_on_support(G, b, support, ridge, penalty)
            for support in itertools.combinations(range(len(G)), min(k, len(G)))
        )
        assert greedy >= optimum - 1e-9
        if b @ b - optimum > 1e-12:
            worst = min(worst, (b @ b - greedy) / (b @ b - optimum))
    assert worst >= bound


def test_omp_stops_without_positive_correlation():
    G = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    idx, w = nonneg_ridge_omp(G, np.array([-1.0, -1.0]), 3, ridge=0.5)
    assert idx.tolist() == [2] and w[0] > 0
    idx, w = nonneg_ridge_omp(G, np.array([-1.0, -1.0]) * 0, 3)
    assert len(idx) == 0 and len(w) == 0


def test_omp_penalty_steers_the_greedy_step():
    # two equally correlated copies: the penalised one must not be picked
    G = np.array([[1.0, 0.0], [1.0, 0.0]])
    idx, _ = nonneg_ridge_omp(G, np.array([1.0, 0.0]), 1, penalty=np.array([5.0, 0.0]))
    assert idx.tolist() == [1]
    idx, _ = nonneg_ridge_omp(G, np.array([1.0, 0.0]), 1)
    assert idx.tolist() == [0]  # ties go to the smaller index


@pytest.mark.parametrize("seed", range(20))
def test_omp_refit_survives_ill_conditioned_float32_gradients(seed):
    # large, nearly collinear float32 gradients (like same-class gradients of a confident model on the
    # spurious scenario): their Gram, ~1e9, swamps the ridge 0.5 in float32 round-off, which made the
    # refit's Cholesky fail (LinAlgError on 9 of these 20 seeds with the float32 Gram)
    rng = np.random.default_rng(seed)
    G = (rng.normal(size=64) * 1e4 + 1e-2 * rng.normal(size=(30, 64))).astype(np.float32)
    b = G[:5].sum(axis=0)
    idx, w = nonneg_ridge_omp(G, b, 10)
    assert 0 < len(idx) <= 10 and np.isfinite(w).all() and (w >= 0).all()
    G64, b64 = G.astype(np.float64), b.astype(np.float64)
    # the refit is the optimum on the chosen support (the float32 Gram's weights missed it)
    greedy = _objective(G64, b64, idx, w, 0.5, None)
    assert greedy == pytest.approx(_best_on_support(G64, b64, idx, 0.5, None), rel=1e-6)


def test_omp_refit_never_raises_when_round_off_breaks_the_float64_cholesky():
    # near-duplicates of norm² 1e24: the Gram + ridge (+ 0.5, + 4.5) rounds to the singular
    # [[1e24, 1e24], [1e24, 1e24]] even in float64; the penalty makes candidate 0 the first pick
    G = np.array([[1e12, 0.0], [1e12, 1.0]])
    idx, w = nonneg_ridge_omp(G, np.array([2e12, 1e10]), 2, penalty=np.array([0.0, 4.0]))
    assert idx.tolist() == [1, 0]
    # the optimum: candidate 1 alone explains the first coordinate and part of the second
    np.testing.assert_allclose(w, [2.0, 0.0], atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"target": np.ones(3)}, "target"),
        ({"k": -1}, "k"),
        ({"k": 1.5}, "k"),
        ({"ridge": 0.0}, "ridge"),
        ({"penalty": np.ones(3)}, "penalty"),
        ({"penalty": -np.ones(4)}, "penalty"),
    ],
)
def test_omp_rejects_bad_input(kwargs, word):
    args = {"gradients": np.ones((4, 2)), "target": np.ones(2), "k": 2} | kwargs
    with pytest.raises(ValueError, match=word):
        nonneg_ridge_omp(args.pop("gradients"), args.pop("target"), args.pop("k"), **args)


# --- geometric_median -----------------------------------------------------------------------------


def test_geometric_median_of_symmetric_points_is_the_centre():
    square = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]) + [3.0, -2.0]
    np.testing.assert_allclose(geometric_median(square), [3.0, -2.0], atol=1e-9)


def test_geometric_median_resists_an_outlier_unlike_the_mean():
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(size=(9, 3)) * 0.1, [[100.0, 100.0, 100.0]]])
    median = geometric_median(points, tol=1e-10)
    assert np.linalg.norm(median) < 0.2 < np.linalg.norm(points.mean(axis=0))

    def cost(p):
        return np.linalg.norm(points - p, axis=1).sum()

    for step in np.eye(3) * 1e-4:
        assert cost(median) <= min(cost(median + step), cost(median - step)) + 1e-9


def test_geometric_median_when_an_iterate_is_a_data_point():
    # the mean, (0, 0), is a data point: there the median stays (the others' pull cancels) ...
    cross = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    np.testing.assert_array_equal(geometric_median(cross), [0.0, 0.0])
    # ... or leaves it when the others pull harder; the median is the triple point (1, 0)
    line = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-3.0, 0.0]])
    np.testing.assert_allclose(geometric_median(line, tol=1e-12), [1.0, 0.0], atol=1e-6)


def test_geometric_median_rejects_bad_input():
    with pytest.raises(ValueError, match="points"):
        geometric_median(np.ones(3))
    with pytest.raises(ValueError, match="points"):
        geometric_median(np.ones((0, 3)))
    with pytest.raises(ValueError, match="tol"):
        geometric_median(np.ones((2, 3)), tol=0)
