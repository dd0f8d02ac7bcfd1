"""One standardisation for every place that compares inputs feature by feature: the model's input
layer, the `raw` embedder and the trainer's screening of received samples."""

from __future__ import annotations

import numpy as np

#: The smallest scale a feature gets, as a fraction of the data's typical per-feature std.
FLOOR_FRACTION = 0.1


def fit_standardisation(
    x: np.ndarray, *, floor_fraction: float = FLOOR_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale of the samples `x`, so that (x - mean) / scale is standardised.

    The scale is the feature's std, floored at `floor_fraction` times the median std of the features
    that vary. A feature (nearly) constant in these samples — 22 of Fashion-MNIST's 784 pixels in the
    trainer's training set — would otherwise be divided by ~0 and turn another party's ordinary values
    there into ~1e6, which then dominates every distance and every model input. The floor is relative
    to the data's own typical scale, so it is the same whether pixels are in [0, 1] or [0, 255], and
    features that vary as usual are left untouched. Data with no varying feature get scale 1.

    Parameters
    ----------
    x : numpy.ndarray
        Samples (n, ...) with n >= 1; statistics are taken over the first axis.
    floor_fraction : float
        The floor as a fraction of the median non-zero per-feature std.

    Returns
    -------
    tuple of numpy.ndarray
        mean and scale, each float64 of shape x.shape[1:]; scale > 0.
    """
    values = np.asarray(x, dtype=np.float64)
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    varying = std[std > 0]
    floor = floor_fraction * float(np.median(varying)) if varying.size else 1.0
    return mean, np.maximum(std, floor)
