"""Input rules, declared once: checks of arrays and parameters that name the argument at fault."""

from __future__ import annotations

import numpy as np


def as_matrix(x: object, name: str, *, rows: int | None = None) -> np.ndarray:
    """Return `x` as a finite 2-D float array (float32/float64 kept, other dtypes to float64).

    Shared input check of the selection modules; `rows`, if given, is the required number of rows.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {x.shape}")
    if rows is not None and len(x) != rows:
        raise ValueError(f"{name} must have {rows} rows, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def as_labels(y: object, name: str, *, n: int | None = None) -> np.ndarray:
    """Return `y` as a 1-D int64 array of non-negative class labels (of length `n`, if given)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    if y.size and y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n is not None and len(y) != n:
        raise ValueError(f"{name} must have {n} labels, got {len(y)}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{name} contains negative labels")
    return y


def as_count(value: object, name: str, *, minimum: int) -> int:
    """Return `value` as a Python int, requiring an integer (not bool) of at least `minimum`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
