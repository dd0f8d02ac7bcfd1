"""Per-sample last-layer gradients of the cross-entropy loss, in closed form (no autograd)."""

from __future__ import annotations

import numpy as np

from mycroft_fl.core.params import as_labels, as_matrix


def last_layer_gradients(features: np.ndarray, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample gradient of the cross-entropy loss w.r.t. the last linear layer, in closed form.

    g_i = (softmax(z_i) - onehot(y_i)) ⊗ [h_i, 1]. Returned as (n, C*(d+1)) float32; reshaped to
    (n, C, d+1), [..., :d] is the weight gradient (laid out like torch `Linear.weight`, (C, d)) and
    [..., d] the bias gradient. No autograd is needed, so an owner can score 50,000 samples in a fraction
    of a second.
    """
    h = as_matrix(features, "features")
    z = as_matrix(logits, "logits", rows=len(h))
    labels = as_labels(y, "y", n=len(h))
    n, d = h.shape
    n_classes = z.shape[1]
    if n_classes == 0:
        raise ValueError("logits must have at least one column (class)")
    if labels.size and labels.max() >= n_classes:
        raise ValueError(f"y has label {labels.max()} but logits has only {n_classes} classes")
    p = np.exp(z - z.max(axis=1, keepdims=True), dtype=np.float64)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(n), labels] -= 1.0
    p = p.astype(np.float32)
    out = np.empty((n, n_classes, d + 1), dtype=np.float32)
    np.multiply(p[:, :, None], h.astype(np.float32, copy=False)[:, None, :], out=out[:, :, :d])
    out[:, :, d] = p
    return out.reshape(n, n_classes * (d + 1))
