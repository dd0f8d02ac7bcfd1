"""Per-sample last-layer gradients of the cross-entropy loss, in closed form (no autograd), and the two
products gradient matching needs from them, computed without materialising them.

A sample's last-layer gradient is g_i = p_i ⊗ [h_i, 1], p_i = softmax(z_i) - onehot(y_i) (C values) and
h_i its d penultimate features: C·(d+1) numbers made of C + d. Dense, an owner with 1,000,000 samples,
1,000 classes and 512-d features would need 2 TB; `LastLayerGradients` keeps p and h and computes
g_i·b = p_iᵀ B [h_i, 1] (B: b as a C × (d+1) matrix) and g_i·g_j = (p_i·p_j)([h_i, 1]·[h_j, 1]).
`EnsembleGradients` is their average over K dropout masks of the features (`dropout_factors`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mycroft_fl.core.params import as_count, as_labels, as_matrix

#: float64 values a batch of rows may occupy while streaming (2²² values: 32 MB).
BATCH_VALUES = 1 << 22
#: Separates the dropout masks' random stream from every other draw seeded by the query's seed.
DROPOUT_STREAM = 0xD80F


@dataclass(frozen=True)
class LastLayerGradients:
    """The last-layer gradients of n samples, factored: g_i = p_i ⊗ [h_i, 1].

    p: (n, C) softmax minus one-hot; h: (n, d) penultimate features. Float32 keeps them small; every
    product is accumulated in float64 without a float64 copy of them (matrix products are streamed
    over rows in batches of `BATCH_VALUES` values).
    """

    p: np.ndarray
    h: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", as_matrix(self.p, "p"))
        object.__setattr__(self, "h", as_matrix(self.h, "h", rows=len(self.p)))

    @property
    def shape(self) -> tuple[int, int]:
        """(n, C·(d+1)): the shape of the dense gradients."""
        return len(self.p), self.p.shape[1] * (self.h.shape[1] + 1)

    def __len__(self) -> int:
        return len(self.p)

    def __getitem__(self, rows: np.ndarray | slice) -> LastLayerGradients:
        """The gradients of the samples `rows` (an index array, mask or slice)."""
        return LastLayerGradients(self.p[rows], self.h[rows])

    def dense(self) -> np.ndarray:
        """The gradients as (n, C·(d+1)) float32; reshaped to (n, C, d+1), [..., :d] is the weight
        gradient (laid out like torch `Linear.weight`) and [..., d] the bias gradient."""
        n, (n_classes, d) = len(self), (self.p.shape[1], self.h.shape[1])
        p = self.p.astype(np.float32, copy=False)
        out = np.empty((n, n_classes, d + 1), dtype=np.float32)
        np.multiply(
            p[:, :, None], self.h.astype(np.float32, copy=False)[:, None, :], out=out[..., :d]
        )
        out[:, :, d] = p
        return out.reshape(n, n_classes * (d + 1))

    def total(self) -> np.ndarray:
        """Σ_i g_i = vec(Pᵀ [H, 1]), float64 (C·(d+1),): a gradient-matching target."""
        p = self.p.astype(np.float64)
        weight = p.T @ self.h.astype(np.float64)
        return np.concatenate([weight, p.sum(axis=0)[:, None]], axis=1).ravel()

    def dot(self, target: np.ndarray) -> np.ndarray:
        """g_i·target for every sample, float64 (n,): p_iᵀ (W h_i + c) with target = vec([W, c])."""
        n, (n_classes, d) = len(self), (self.p.shape[1], self.h.shape[1])
        matrix = np.asarray(target, dtype=np.float64).reshape(n_classes, d + 1)
        weight, bias = matrix[:, :d].T.copy(), matrix[:, d]
        batch = max(1, BATCH_VALUES // (n_classes + d))
        out = np.empty(n)
        for start in range(0, n, batch):
            rows = slice(start, start + batch)
            logits = self.h[rows].astype(np.float64) @ weight + bias
            out[rows] = np.einsum("ij,ij->i", self.p[rows], logits)
        return out

    def gram_column(self, j: int) -> np.ndarray:
        """g_i·g_j for every sample i, float64 (n,): (p_i·p_j)(h_i·h_j + 1)."""
        pj, hj = self.p[j].astype(np.float64), self.h[j].astype(np.float64)
        return _dot_rows(self.p, pj) * (_dot_rows(self.h, hj) + 1.0)


@dataclass(frozen=True)
class EnsembleGradients:
    """The last-layer gradients of n samples averaged over K dropout masks of their features, factored:
    ḡ_i = (1/K) Σ_k p_ik ⊗ [h_i ⊙ s_k, 1], s_k = mask_k / (1 - rate), p_ik the softmax minus one-hot
    of the logits of h_i ⊙ s_k.

    p: (K, n, C); h: (n, d), stored once; scales: (K, d), the masks' s_k (one mask per ensemble
    member, shared by every sample, as a member is one thinned model). Memory is O(n·(K·C + d));
    products are sums over masks of the factored ones, never the dense n × C·(d+1) matrix.
    """

    p: np.ndarray
    h: np.ndarray
    scales: np.ndarray

    def __post_init__(self) -> None:
        p = np.asarray(self.p)
        if p.ndim != 3:
            raise ValueError(
                f"p must be a 3-D array (masks, samples, classes), got shape {p.shape}"
            )
        h = as_matrix(self.h, "h", rows=p.shape[1])
        scales = as_matrix(self.scales, "scales", rows=len(p))
        if scales.shape[1] != h.shape[1]:
            raise ValueError(f"scales must have {h.shape[1]} columns, got {scales.shape[1]}")
        object.__setattr__(self, "h", h)
        object.__setattr__(self, "scales", scales)

    @property
    def shape(self) -> tuple[int, int]:
        """(n, C·(d+1)): the shape of the dense (averaged) gradients."""
        return self.p.shape[1], self.p.shape[2] * (self.h.shape[1] + 1)

    def __len__(self) -> int:
        return self.p.shape[1]

    def __getitem__(self, rows: np.ndarray | slice) -> EnsembleGradients:
        """The averaged gradients of the samples `rows` (an index array, mask or slice)."""
        return EnsembleGradients(self.p[:, rows], self.h[rows], self.scales)

    def member(self, k: int) -> LastLayerGradients:
        """The gradients under mask k alone."""
        return LastLayerGradients(self.p[k], self.h * self.scales[k])

    def dense(self) -> np.ndarray:
        """The averaged gradients as (n, C·(d+1)) float32 (laid out as `LastLayerGradients.dense`)."""
        total = sum(self.member(k).dense().astype(np.float64) for k in range(len(self.p)))
        return (total / len(self.p)).astype(np.float32)

    def total(self) -> np.ndarray:
        """Σ_i ḡ_i, float64 (C·(d+1),): a gradient-matching target."""
        return sum(self.member(k).total() for k in range(len(self.p))) / len(self.p)

    def dot(self, target: np.ndarray) -> np.ndarray:
        """ḡ_i·target for every sample, float64 (n,): the mean over masks of p_ikᵀ (W (h_i ⊙ s_k) + c),
        as `LastLayerGradients.dot` of the unmasked h with W's columns scaled by s_k."""
        n_classes, d = self.p.shape[2], self.h.shape[1]
        matrix = np.asarray(target, dtype=np.float64).reshape(n_classes, d + 1)
        out = np.zeros(len(self))
        for k, scale in enumerate(self.scales.astype(np.float64)):
            scaled = np.concatenate([matrix[:, :d] * scale, matrix[:, d:]], axis=1)
            out += LastLayerGradients(self.p[k], self.h).dot(scaled.ravel())
        return out / len(self.p)

    def gram_column(self, j: int) -> np.ndarray:
        """ḡ_i·ḡ_j for every sample i, float64 (n,): (1/K²) Σ_k Σ_l (p_ik·p_jl)(h_i·(h_j ⊙ s_k ⊙ s_l) + 1)."""
        pj = self.p[:, j].astype(np.float64)  # (K, C): p_jl
        hj = self.h[j].astype(np.float64) * self.scales  # (K, d): h_j ⊙ s_l
        out = np.zeros(len(self))
        for k, scale in enumerate(self.scales.astype(np.float64)):
            pp = np.einsum("ic,lc->il", self.p[k], pj)
            hh = np.einsum("if,lf->il", self.h, hj * scale) + 1.0
            out += np.einsum("il,il->i", pp, hh)
        return out / len(self.p) ** 2


@dataclass(frozen=True)
class DenseGradients:
    """Gradients given as an (n, D) matrix, with the products of `LastLayerGradients` (accumulated in
    float64), so gradient matching takes either."""

    g: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "g", as_matrix(self.g, "gradients"))

    @property
    def shape(self) -> tuple[int, int]:
        return self.g.shape

    def __len__(self) -> int:
        return len(self.g)

    def dot(self, target: np.ndarray) -> np.ndarray:
        """g_i·target for every row, float64 (n,)."""
        return _dot_rows(self.g, np.asarray(target, dtype=np.float64))

    def gram_column(self, j: int) -> np.ndarray:
        """g_i·g_j for every row i, float64 (n,)."""
        return _dot_rows(self.g, self.g[j].astype(np.float64))


def _dot_rows(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """matrix @ vector accumulated in float64 (vector is float64) without a float64 copy of `matrix`:
    einsum casts in small buffers, and unlike a threaded BLAS product it does not stall on a busy
    machine."""
    return np.einsum("ij,j->i", matrix, vector)


def last_layer_factors(
    features: np.ndarray, logits: np.ndarray, y: np.ndarray
) -> LastLayerGradients:
    """Per-sample gradients of the cross-entropy loss w.r.t. the last linear layer, factored.

    Parameters
    ----------
    features : numpy.ndarray
        (n, d) penultimate features h.
    logits : numpy.ndarray
        (n, C) logits z.
    y : numpy.ndarray
        (n,) labels in 0..C-1.

    Returns
    -------
    LastLayerGradients
        p = softmax(z) - onehot(y) (float32, the softmax taken stably in float64) and h (float32).
    """
    h = as_matrix(features, "features")
    z = as_matrix(logits, "logits", rows=len(h))
    labels = as_labels(y, "y", n=len(h))
    n_classes = z.shape[1]
    if n_classes == 0:
        raise ValueError("logits must have at least one column (class)")
    if labels.size and labels.max() >= n_classes:
        raise ValueError(f"y has label {labels.max()} but logits has only {n_classes} classes")
    p = np.exp(z - z.max(axis=1, keepdims=True), dtype=np.float64)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(h)), labels] -= 1.0
    return LastLayerGradients(p.astype(np.float32), h.astype(np.float32, copy=False))


def factors_in_batches(
    compute: Callable[[slice], LastLayerGradients | EnsembleGradients], n: int, batch_rows: int
) -> LastLayerGradients | EnsembleGradients:
    """The factored gradients of n samples, computed `batch_rows` samples at a time.

    Each batch's factors are written into arrays allocated once for all n samples (of the batch's
    dtype, float32), so memory holds the n samples' factors and one batch's intermediates, never
    the inputs or the logits of all n at once.

    Parameters
    ----------
    compute : callable
        compute(rows) gives the factored gradients of the samples in the slice `rows`.
    n : int
        Number of samples, >= 1.
    batch_rows : int
        Samples per call of `compute`.

    Returns
    -------
    LastLayerGradients or EnsembleGradients
        As `compute` gives them, one row per sample.
    """
    n = as_count(n, "n", minimum=1)
    batch_rows = as_count(batch_rows, "batch_rows", minimum=1)
    p = h = None
    for start in range(0, n, batch_rows):
        rows = slice(start, min(start + batch_rows, n))
        part = compute(rows)
        if p is None:  # (K,) n, C: the sample axis is the one before the classes
            p = np.empty((*part.p.shape[:-2], n, part.p.shape[-1]), dtype=part.p.dtype)
            h = np.empty((n, part.h.shape[1]), dtype=part.h.dtype)
        p[..., rows, :] = part.p
        h[rows] = part.h
    if isinstance(part, EnsembleGradients):
        return EnsembleGradients(p, h, part.scales)
    return LastLayerGradients(p, h)


def last_layer_gradients(features: np.ndarray, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample gradient of the cross-entropy loss w.r.t. the last linear layer, dense.

    g_i = (softmax(z_i) - onehot(y_i)) ⊗ [h_i, 1], as (n, C·(d+1)) float32 (see
    `LastLayerGradients.dense`). No autograd is needed, so an owner can score 50,000 samples in a
    fraction of a second; selection works on `last_layer_factors` and never needs this form.
    """
    return last_layer_factors(features, logits, y).dense()


def dropout_factors(
    features: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    y: np.ndarray,
    *,
    ensemble: int,
    rate: float,
    seed: int,
) -> EnsembleGradients:
    """Last-layer gradients averaged over `ensemble` dropout masks of the features (a dropout ensemble,
    Deng et al. 2024), factored.

    Mask k keeps each feature with probability 1 - rate and scales it by 1 / (1 - rate) (inverted
    dropout); the logits are recomputed through the head for each mask. The masks depend only on
    `seed`, `ensemble`, `rate` and d, so the candidates and the hard samples' targets of one query get
    the same masks whatever their number or order.

    Parameters
    ----------
    features : numpy.ndarray
        (n, d) penultimate features h.
    weight : numpy.ndarray
        (C, d) weight of the linear head.
    bias : numpy.ndarray
        (C,) bias of the linear head.
    y : numpy.ndarray
        (n,) labels in 0..C-1.
    ensemble : int
        K >= 1, the number of masks.
    rate : float
        Dropout rate in [0, 1).
    seed : int
        Seed of the masks.

    Returns
    -------
    EnsembleGradients
        p (K, n, C) float32, h (n, d) float32 and the masks' scales (K, d).
    """
    h = as_matrix(features, "features").astype(np.float32, copy=False)
    w = as_matrix(weight, "weight").astype(np.float32, copy=False)
    if w.shape[1] != h.shape[1]:
        raise ValueError(f"weight must have {h.shape[1]} columns (features), got {w.shape[1]}")
    b = np.asarray(bias, dtype=np.float32)
    if b.shape != (len(w),):
        raise ValueError(f"bias must have shape ({len(w)},), got {b.shape}")
    ensemble = as_count(ensemble, "ensemble", minimum=1)
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    rng = np.random.default_rng([as_count(seed, "seed", minimum=0), DROPOUT_STREAM])
    scales = (rng.random((ensemble, h.shape[1])) >= rate).astype(np.float32) / np.float32(1 - rate)
    p = np.stack([last_layer_factors(h * s, (h * s) @ w.T + b, y).p for s in scales])
    return EnsembleGradients(p, h, scales)
