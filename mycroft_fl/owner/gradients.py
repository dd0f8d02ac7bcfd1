"""Per-sample last-layer gradients of the cross-entropy loss, in closed form (no autograd), and the two
products gradient matching needs from them, computed without materialising them.

A sample's last-layer gradient is g_i = p_i ⊗ [h_i, 1], p_i = softmax(z_i) - onehot(y_i) (C values) and
h_i its d penultimate features: C·(d+1) numbers made of C + d. Dense, an owner with 1,000,000 samples,
1,000 classes and 512-d features would need 2 TB; `LastLayerGradients` keeps p and h and computes
g_i·b = p_iᵀ B [h_i, 1] (B: b as a C × (d+1) matrix) and g_i·g_j = (p_i·p_j)([h_i, 1]·[h_j, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mycroft_fl.core.params import as_labels, as_matrix

#: float64 values a batch of rows may occupy while streaming (2²² values: 32 MB).
BATCH_VALUES = 1 << 22


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


def last_layer_gradients(features: np.ndarray, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample gradient of the cross-entropy loss w.r.t. the last linear layer, dense.

    g_i = (softmax(z_i) - onehot(y_i)) ⊗ [h_i, 1], as (n, C·(d+1)) float32 (see
    `LastLayerGradients.dense`). No autograd is needed, so an owner can score 50,000 samples in a
    fraction of a second; selection works on `last_layer_factors` and never needs this form.
    """
    return last_layer_factors(features, logits, y).dense()
