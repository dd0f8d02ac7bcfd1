"""Checks on what an owner sent back, before anything of it is used."""

from __future__ import annotations

import numpy as np

from .data import Dataset


def check_reply(x: object, y: object, indices: object, *, sample_shape: tuple[int, ...], n_classes: int,
                budget: int | None) -> tuple[Dataset | None, str | None]:
    """Return (subset, None) for a valid reply or (None, reason) for one to reject.

    A reply over `budget` is rejected whole, never truncated; `budget` None means unbudgeted
    (full information).
    """
    arrays = {"x": x, "y": y, "indices": indices}
    for name, value in arrays.items():
        if value is None:
            return None, f"missing array {name!r}"
        if not isinstance(value, np.ndarray):
            return None, f"array {name!r} is a {type(value).__name__}, not an array"
    x, y, indices = arrays["x"], arrays["y"], arrays["indices"]
    if x.dtype.kind not in "fiu":
        return None, f"x has dtype {x.dtype}, expected numbers"
    if y.dtype.kind not in "iu":
        return None, f"y has dtype {y.dtype}, expected integer labels"
    if indices.dtype.kind not in "iu":
        return None, f"indices have dtype {indices.dtype}, expected integers"
    if y.ndim != 1 or indices.ndim != 1:
        return None, f"y and indices must be 1-d, got shapes {y.shape} and {indices.shape}"
    if tuple(x.shape[1:]) != tuple(sample_shape) or x.ndim != len(sample_shape) + 1:
        return None, f"x has shape {x.shape}, expected (n, {', '.join(map(str, sample_shape))})"
    if not len(x) == len(y) == len(indices):
        return None, f"x, y and indices disagree in length ({len(x)}, {len(y)}, {len(indices)})"
    if budget is not None and len(y) > budget:
        return None, f"{len(y)} samples exceed the budget of {budget}"
    if not np.all(np.isfinite(x)):
        return None, "x contains NaN or inf"
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        return None, f"labels outside 0..{n_classes - 1} (found {y.min()}..{y.max()})"
    if len(indices) and indices.min() < 0:
        return None, "negative owner indices"
    if len(np.unique(indices)) != len(indices):
        return None, f"{len(indices) - len(np.unique(indices))} duplicate indices"
    return Dataset(x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)), None
