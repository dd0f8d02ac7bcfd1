"""Gradient matching: non-negative ridge OMP, and the geometric median of a class's hard samples.

The owner-side core of Mycroft: an owner picks the few samples whose last-layer gradients, summed with
non-negative weights, best reproduce the gradient of the trainer's hard samples.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import nnls

from mycroft_fl.core.params import as_count, as_matrix
from mycroft_fl.owner.gradients import DenseGradients, EnsembleGradients, LastLayerGradients


def nonneg_ridge_omp(
    gradients: np.ndarray | LastLayerGradients | EnsembleGradients | DenseGradients,
    target: np.ndarray,
    k: int,
    *,
    ridge: float = 0.5,
    penalty: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy (orthogonal matching pursuit) solution of the sparse non-negative ridge problem

        min_{w >= 0, |supp w| <= k}  ||G w - b||² + ridge ||w||² + Σ_i penalty_i w_i²,   G = gradients.T.

    Each step picks one candidate (row of `gradients`) among those with positive correlation g_iᵀr with
    the residual r: the one with the largest g_iᵀr / sqrt(ridge + penalty_i). That is the paper's rule
    (largest g_iᵀr) applied where the problem is a plain ridge: with v_i = w_i·sqrt(d_i/ridge), d_i =
    ridge + penalty_i, the objective is ||G̃v - b||² + ridge ||v||² for the columns g̃_i = g_i·sqrt(ridge/d_i).
    Without `penalty` it is exactly the paper's rule; with it, the penalty steers the choice and not only
    the refit. (The one-step gain (g_iᵀr)²/(||g_i||² + d_i) solves the matching problem better, but it
    discounts large-loss candidates and picked less useful data on the digits benchmark; see
    tests/test_digits_ranking.py.) After each pick the weights on the support are refit exactly
    (non-negative penalised ridge least squares). Stops after k picks or when no candidate has a
    positive correlation left. Correlations are kept as Gᵀb - (GᵀG_S) w, nothing n×n is formed.

    `gradients` may be factored (`LastLayerGradients`, from `last_layer_factors`): then nothing n×D is
    formed either. Gᵀb costs O(n·C·d) once and each step's column of GᵀG_S O(n·(C + d)) (dense:
    O(n·D), D = C·(d+1)); both are accumulated in float64 without a float64 copy of the gradients,
    so the memory beyond them is O(n·k) (the columns of the picks). The Gram and the refit are
    float64 too. Averaged over K dropout masks (`EnsembleGradients`), Gᵀb costs K times as much and
    a column K² times.

    Parameters
    ----------
    gradients : numpy.ndarray or LastLayerGradients or EnsembleGradients or DenseGradients
        The candidates' gradients g_i: an (n, D) matrix or factored.
    target : numpy.ndarray
        b, (D,).
    k : int
        The most candidates to pick.
    ridge : float
        λ > 0: keeps the refit well-posed (and the Gram positive definite).
    penalty : numpy.ndarray or None
        (n,) extra ridge weights >= 0 per candidate (None: none).

    Returns
    -------
    tuple of numpy.ndarray
        (indices, weights): at most k picks, ordered by weight descending (ties by index); weights
        are >= 0 (a pick can end with weight 0 when later picks explain it better).
    """
    grads = (
        gradients
        if isinstance(gradients, LastLayerGradients | EnsembleGradients | DenseGradients)
        else DenseGradients(gradients)
    )
    n, dim = grads.shape
    b = np.asarray(target)
    if b.shape != (dim,):
        raise ValueError(f"target must have shape ({dim},) to match gradients, got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError("target contains NaN or inf")
    k = min(as_count(k, "k", minimum=0), n)
    if not (np.isfinite(ridge) and ridge > 0):
        raise ValueError(
            f"ridge must be a finite number > 0 (it keeps the refit well-posed), got {ridge}"
        )
    if penalty is not None:
        penalty = np.asarray(penalty, dtype=np.float64)
        if penalty.shape != (n,):
            raise ValueError(
                f"penalty must have shape ({n},), one value per candidate, got {penalty.shape}"
            )
        if not (np.isfinite(penalty).all() and (penalty >= 0).all()):
            raise ValueError("penalty must be finite and >= 0")
        diagonal = ridge + penalty
    else:
        diagonal = np.full(n, float(ridge))
    column_scale = 1.0 / np.sqrt(diagonal)

    gb = grads.dot(b)
    cross = np.empty((n, k), order="F")  # column s: g_i·g_(pick s); rows `support`: G_SᵀG_S
    support: list[int] = []
    free = np.ones(n, dtype=bool)
    weights = np.empty(0)
    corr = gb
    while len(support) < k:
        eligible = free & (corr > 0)
        if not eligible.any():
            break
        score = corr if penalty is None else corr * column_scale
        j = int(np.argmax(np.where(eligible, score, -np.inf)))
        s = len(support)
        cross[:, s] = grads.gram_column(j)
        support.append(j)
        free[j] = False
        gram = cross[support, : s + 1]
        gram = 0.5 * (gram + gram.T)
        gram[np.diag_indices(s + 1)] += diagonal[support]
        weights = _refit(gram, gb[support], diagonal[support].min())
        corr = gb - cross[:, : s + 1] @ weights
    indices = np.asarray(support, dtype=np.int64)
    order = np.lexsort((indices, -weights))
    return indices[order], weights[order]


def _refit(gram: np.ndarray, c: np.ndarray, smallest: float) -> np.ndarray:
    """argmin_{w >= 0} wᵀAw - 2cᵀw for the support's penalised Gram A = `gram` (float64).

    min_{w>=0} wᵀAw - 2cᵀw with A = LLᵀ equals min_{w>=0} ||Lᵀw - L⁻¹c||² up to a constant. In exact
    arithmetic A's eigenvalues are all >= `smallest`, the least diagonal term the ridge adds, so A is
    positive definite; when round-off on large, nearly collinear gradients breaks the Cholesky anyway,
    the same problem is solved from A's eigendecomposition with those eigenvalues raised to `smallest`
    (never a LinAlgError).
    """
    try:
        chol = np.linalg.cholesky(gram)
        return nnls(chol.T, solve_triangular(chol, c, lower=True))[0]
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(gram)
        root = np.sqrt(np.maximum(values, smallest))
        return nnls(root[:, None] * vectors.T, (vectors.T @ c) / root)[0]


def geometric_median(points: np.ndarray, *, tol: float = 1e-6, max_iter: int = 200) -> np.ndarray:
    """The point minimising the sum of Euclidean distances to `points` (m, e), by Weiszfeld's iteration.

    Uses the Vardi–Zhang step, so an iterate that lands on a data point neither divides by zero nor gets
    stuck there. Stops when an iteration moves the estimate by less than `tol` or after `max_iter`
    iterations. The paper's centre of a class's hard samples (unlike the mean, one outlier cannot drag it).
    The selection measures distance to the nearest hard sample by default (see `selection.select`): on
    digits that picked more useful data and separated flipped labels better.
    """
    x = as_matrix(points, "points").astype(np.float64)
    if len(x) == 0:
        raise ValueError("points must hold at least one point")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol}")
    max_iter = as_count(max_iter, "max_iter", minimum=1)
    scale = np.abs(x).max()
    y = x.mean(axis=0)
    for _ in range(max_iter):
        dist = np.linalg.norm(x - y, axis=1)
        away = dist > 1e-12 * (scale + 1.0)
        if not away.any():
            return y
        inv = 1.0 / dist[away]
        weiszfeld = inv @ x[away] / inv.sum()
        at_y = len(x) - int(away.sum())
        if at_y:
            pull = np.linalg.norm(inv @ (x[away] - y))
            if pull <= at_y:  # the data point under y is itself the median
                return y
            weiszfeld = (1.0 - at_y / pull) * weiszfeld + (at_y / pull) * y
        step = np.linalg.norm(weiszfeld - y)
        y = weiszfeld
        if step < tol:
            break
    return y
