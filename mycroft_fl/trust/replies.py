"""Checks on what an owner sent back, before anything of it is used.

Every way a reply can be malformed is a *kind* in `REJECTIONS`, with the one-line reason it is
rejected with (`{...}` marks the parts that vary). `reason_kind` maps a reason back to its kind.
The checks run in the order of `REJECTIONS`; a reply is rejected for the first problem found.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from numbers import Integral, Real

import numpy as np

from mycroft_fl.core.data import Dataset

#: Default bound on |x|: no feature scale the engine trains on comes near it, and anything past it
#: (or past float32's range) would dominate or overflow training.
MAX_ABS = 1e6
#: A budgeted reply is padded when more than this fraction of its samples are exact copies of others
#: in it (or constant). 3/4, not 1/2: an owner whose data holds each sample up to three times (a
#: property of its data, not a cheat) sends at most 2/3 copies whatever it selects.
MAX_PADDING = 0.75
_F32_MAX = float(np.finfo(np.float32).max)

#: kind -> reason template; the checks run in this order.
REJECTIONS: dict[str, str] = {
    "missing array": "missing array {name}",
    "not an array": "array {name} is a {type}, not an array",
    "0-d array": "array {name} is 0-d, expected one entry per sample",
    "x not numeric": "x has dtype {dtype}, expected numbers",
    "x boolean": "x has dtype bool, expected numbers, not true/false",
    "x complex": "x has dtype {dtype}, expected real numbers",
    "y boolean": "y has dtype bool, expected integer labels, not true/false",
    "y not integer": "y has dtype {dtype}, expected integer labels",
    "indices not integer": "indices have dtype {dtype}, expected integers",
    "y or indices not 1-d": "y and indices must be 1-d, got shapes {y_shape} and {indices_shape}",
    "x wrong number of axes": "x has shape {shape}, expected (n, {sample_shape}): {ndim} axes instead of {expected}",
    "x wrong sample shape": "x has shape {shape}, expected (n, {sample_shape}): wrong sample shape",
    "length mismatch": "x, y and indices disagree in length ({nx}, {ny}, {ni})",
    "over budget": "{n} samples exceed the budget of {budget}",
    "invalid local size": "owner declared an invalid local size ({value})",
    "NaN": "x contains NaN or inf (NaN in {k} of {n} samples)",
    "inf": "x contains NaN or inf (inf in {k} of {n} samples)",
    "beyond float32": "x has values too large for float32 (up to {value})",
    "absurd magnitude": "x has values of magnitude up to {value}, beyond the limit of {limit}",
    "outside reference range": "x has values outside the reference range {lo}..{hi} (found {min}..{max})",
    "labels out of range": "labels outside 0..{top} (found {min}..{max})",
    "labels not allowed": "labels outside the allowed classes {allowed} (found {found})",
    "negative indices": "{k} negative owner indices",
    "indices beyond local size": "owner indices up to {max} but the owner declared {local_size} samples",
    "duplicate indices": "{k} duplicate indices",
    "duplicate samples": "{k} of {n} samples repeat another sample exactly (padding: more than {limit})",
    "constant samples": "{k} of {n} samples are constant, every value the same (padding: more than {limit})",
}

_PATTERNS = {
    kind: re.compile("^" + re.sub(r"\\\{\w+\\\}", ".+?", re.escape(t)) + "$")
    for kind, t in REJECTIONS.items()
}


def reason_kind(reason: str) -> str | None:
    """The kind in `REJECTIONS` whose template `reason` was made from (the first that matches)."""
    return next((kind for kind, pattern in _PATTERNS.items() if pattern.match(reason)), None)


def _reason(kind: str, **parts: object) -> str:
    return REJECTIONS[kind].format(**parts)


def _g(value: float) -> str:
    return f"{value:.6g}"


def reference_range(x: np.ndarray, *, margin: float = 10.0) -> tuple[float, float]:
    """The range of the trainer's own data `x` widened by `margin` times its span on each side,
    for `check_reply(value_range=...)`: a reply far outside it is out of domain. A coarse bound
    (one range for all features), so the margin is wide: honest data with heavy tails passes."""
    lo, hi = float(np.min(x)), float(np.max(x))
    span = max(hi - lo, 1.0)
    return lo - margin * span, hi + margin * span


def reply_limits(x: np.ndarray, *, margin: float = 10.0) -> dict[str, object]:
    """`check_reply` bounds on values from the trainer's own data `x`: `value_range` is its
    `reference_range`, and `max_abs` is raised to that range when the trainer's data are larger than
    `MAX_ABS`, so the absolute limit never rejects what the range allows."""
    lo, hi = reference_range(x, margin=margin)
    return {"value_range": (lo, hi), "max_abs": max(MAX_ABS, abs(lo), abs(hi))}


def check_reply(
    x: object,
    y: object,
    indices: object,
    *,
    sample_shape: tuple[int, ...],
    n_classes: int,
    budget: int | None,
    local_size: object = None,
    allowed_labels: Collection[int] | None = None,
    max_abs: float | None = MAX_ABS,
    value_range: tuple[float, float] | None = None,
    max_padding: float | None = MAX_PADDING,
) -> tuple[Dataset | None, str | None]:
    """Check an owner's reply before anything of it is used; the first problem found rejects it whole.

    Parameters
    ----------
    x, y, indices : object
        What the owner sent: samples (n, *sample_shape), labels (n,), its own indices (n,).
    sample_shape : tuple of int
        The trainer's sample shape.
    n_classes : int
        Labels must lie in 0..n_classes-1.
    budget : int or None
        The most samples a reply may hold (over it, rejected whole, never truncated); None: unbudgeted.
    local_size : object, optional
        The number of samples the owner declared; its indices must lie below it.
    allowed_labels : collection of int, optional
        The only classes it may send (the hard classes); None: any.
    max_abs : float or None
        A bound on |x| (None: only float32's range).
    value_range : (float, float), optional
        The plausible (low, high) range of values (see `reference_range`, `reply_limits`).
    max_padding : float or None
        The fraction of a budgeted reply's samples that may be copies of others, or constant, before it
        counts as padded (None: no padding check; an unbudgeted reply is never checked for padding).

    Returns
    -------
    tuple
        (subset, None) for a valid reply, (None, reason) for one to reject; the reason is one line,
        made from a template in `REJECTIONS`.
    """
    arrays = {"x": x, "y": y, "indices": indices}
    for name, value in arrays.items():
        if value is None:
            return None, _reason("missing array", name=repr(name))
    for name, value in arrays.items():
        if type(value) is not np.ndarray:  # also rejects subclasses (masked arrays, matrices)
            return None, _reason("not an array", name=repr(name), type=type(value).__name__)
    for name, value in arrays.items():
        if value.ndim == 0:
            return None, _reason("0-d array", name=repr(name))
    x, y, indices = arrays["x"], arrays["y"], arrays["indices"]
    if x.dtype.kind == "b":
        return None, _reason("x boolean")
    if x.dtype.kind == "c":
        return None, _reason("x complex", dtype=x.dtype)
    if x.dtype.kind not in "fiu":
        return None, _reason("x not numeric", dtype=x.dtype)
    if y.dtype.kind == "b":
        return None, _reason("y boolean")
    if y.dtype.kind not in "iu":
        return None, _reason("y not integer", dtype=y.dtype)
    if indices.dtype.kind not in "iu":
        return None, _reason("indices not integer", dtype=indices.dtype)
    if y.ndim != 1 or indices.ndim != 1:
        return None, _reason("y or indices not 1-d", y_shape=y.shape, indices_shape=indices.shape)
    sample_shape = tuple(int(s) for s in sample_shape)
    expected = ", ".join(map(str, sample_shape))
    if x.ndim != len(sample_shape) + 1:
        return None, _reason(
            "x wrong number of axes",
            shape=x.shape,
            sample_shape=expected,
            ndim=x.ndim,
            expected=len(sample_shape) + 1,
        )
    if tuple(x.shape[1:]) != sample_shape:
        return None, _reason("x wrong sample shape", shape=x.shape, sample_shape=expected)
    n = len(y)
    if not len(x) == n == len(indices):
        return None, _reason("length mismatch", nx=len(x), ny=n, ni=len(indices))
    if budget is not None and n > budget:
        return None, _reason("over budget", n=n, budget=budget)
    declared = _local_size(local_size)
    if declared is False:
        return None, _reason("invalid local size", value=repr(local_size))
    flat = x.reshape(n, int(np.prod(sample_shape, dtype=np.int64)))
    if x.dtype.kind == "f":
        nan = np.isnan(flat).any(axis=1)
        if nan.any():
            return None, _reason("NaN", k=int(nan.sum()), n=n)
        inf = np.isinf(flat).any(axis=1)
        if inf.any():
            return None, _reason("inf", k=int(inf.sum()), n=n)
    # max |x| from the extremes (np.abs overflows on the most negative integer); float() of a float128
    # beyond float64's range is inf
    top = max(abs(float(flat.min())), abs(float(flat.max()))) if flat.size else 0.0
    if top > _F32_MAX:
        return None, _reason("beyond float32", value=_g(top))
    if max_abs is not None and top > max_abs:
        return None, _reason("absurd magnitude", value=_g(top), limit=_g(max_abs))
    if value_range is not None and flat.size:
        lo, hi = (float(v) for v in value_range)
        found_lo, found_hi = float(flat.min()), float(flat.max())
        if found_lo < lo or found_hi > hi:
            return None, _reason(
                "outside reference range", lo=_g(lo), hi=_g(hi), min=_g(found_lo), max=_g(found_hi)
            )
    if n and (y.min() < 0 or y.max() >= n_classes):
        return None, _reason("labels out of range", top=n_classes - 1, min=y.min(), max=y.max())
    if allowed_labels is not None and n:
        allowed = sorted({int(c) for c in allowed_labels})
        found = sorted(set(np.unique(y).tolist()) - set(allowed))
        if found:
            return None, _reason(
                "labels not allowed",
                allowed=", ".join(map(str, allowed)) or "none",
                found=", ".join(map(str, found)),
            )
    if n and indices.min() < 0:
        return None, _reason("negative indices", k=int(np.count_nonzero(indices < 0)))
    if declared is not None and n and indices.max() >= declared:
        return None, _reason("indices beyond local size", max=indices.max(), local_size=declared)
    unique = len(np.unique(indices))
    if unique != n:
        return None, _reason("duplicate indices", k=n - unique)
    x32 = flat.astype(np.float32)
    if max_padding is not None and budget is not None and n and x32.shape[1]:
        limit = _g(max_padding * n)
        copies = n - len(
            np.unique(x32 + np.float32(0.0), axis=0)
        )  # + 0.0 makes -0.0 and 0.0 one value
        if copies > max_padding * n:
            return None, _reason("duplicate samples", k=copies, n=n, limit=limit)
        if x32.shape[1] > 1:
            constant = int(np.count_nonzero((x32 == x32[:, :1]).all(axis=1)))
            if constant > max_padding * n:
                return None, _reason("constant samples", k=constant, n=n, limit=limit)
    return Dataset(x32.reshape(x.shape), y.astype(np.int64)), None


def _local_size(value: object) -> int | None | bool:
    """The declared local size as an int, None when not declared, False when it is no sample count."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, Integral):
        return int(value) if value >= 0 else False
    if (
        isinstance(value, Real)
        and np.isfinite(float(value))
        and float(value) >= 0
        and float(value).is_integer()
    ):
        return int(value)
    return False


#: kind -> reason template of a malformed cluster histogram (EcoVal); checked in this order.
HISTOGRAM_REJECTIONS: dict[str, str] = {
    "missing": "cluster histogram missing (the query carried {cells} cluster cells)",
    "not an array": "cluster histogram is a {type}, not an array",
    "wrong shape": "cluster histogram has shape {shape}, expected {expected}",
    "not integer": "cluster histogram has dtype {dtype}, expected integer counts",
    "negative": "cluster histogram has {k} negative counts",
    "more than held": "cluster histogram counts {total} samples but the owner declared {local_size}",
    "fewer than sent": "cluster histogram counts {counted} samples of class {label} but {sent} were sent",
}


def check_histogram(
    histogram: object,
    *,
    shape: tuple[int, int],
    classes: np.ndarray,
    sent: np.ndarray,
    local_size: object = None,
) -> tuple[np.ndarray | None, str | None]:
    """Check the cluster histogram an owner reported beside its subset (EcoVal's counts).

    Parameters
    ----------
    histogram : object
        What the owner sent: per hard class, its samples in each cluster cell.
    shape : (int, int)
        (hard classes, cells per class) the query asked for.
    classes : numpy.ndarray
        The hard classes, sorted, one row each.
    sent : numpy.ndarray
        The labels of the samples it sent: a row may not count fewer than were sent of its class.
    local_size : object, optional
        The number of samples the owner declared; the counts may not exceed it.

    Returns
    -------
    tuple
        (counts as int64, None) when valid, (None, reason) to reject the reply with, one line made from
        a template in `HISTOGRAM_REJECTIONS`.
    """
    if histogram is None:
        return None, _histogram_reason("missing", cells=shape[0] * shape[1])
    if type(histogram) is not np.ndarray:
        return None, _histogram_reason("not an array", type=type(histogram).__name__)
    if histogram.shape != tuple(shape):
        return None, _histogram_reason("wrong shape", shape=histogram.shape, expected=tuple(shape))
    if histogram.dtype.kind not in "iu":
        return None, _histogram_reason("not integer", dtype=histogram.dtype)
    if (histogram < 0).any():
        return None, _histogram_reason("negative", k=int(np.count_nonzero(histogram < 0)))
    declared = _local_size(local_size)
    total = int(histogram.sum(dtype=np.int64))
    if isinstance(declared, int) and not isinstance(declared, bool) and total > declared:
        return None, _histogram_reason("more than held", total=total, local_size=declared)
    for label, row in zip(classes, histogram):
        n_sent = int(np.count_nonzero(sent == label))
        if int(row.sum()) < n_sent:
            return None, _histogram_reason(
                "fewer than sent", counted=int(row.sum()), label=int(label), sent=n_sent
            )
    return histogram.astype(np.int64), None


def _histogram_reason(kind: str, **parts: object) -> str:
    return HISTOGRAM_REJECTIONS[kind].format(**parts)
