"""EcoVal for owners (Tarun et al. 2024, arXiv 2402.09288): value clusters of data, not single
owners' subsets, then value each owner by what it holds in each cluster.

The trainer fits k-means centres of its model's features (`fit_clusters`) and sends them with the
query; each owner reports, per hard class, how many of its samples fall in each cluster (its
histogram, `core.clusters`). The trainer pools the samples it received, over the owners not judged
harmful, by cell (class x cluster, plus a far cell per class), and retrains on each pool to learn
what one sample of that cell is worth (`cell_worth`). An owner's value is then its subset's measured
utility scaled by how much worth it holds against how much it sent (`owner_values`): an owner that
sent as good a subset as another but holds five times as much data of the useful cells is worth five
times as much, and counts in a cell whose received samples proved worthless add nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.cluster import KMeans

from mycroft_fl.core.clusters import Clusters

#: The far cell starts at `reach` times this quantile of the fitted points' distances to their centre.
RADIUS_QUANTILE = 0.95


def fit_clusters(features: np.ndarray, k: int, reach: float, *, seed: int = 0) -> Clusters:
    """Seeded k-means centres of `features` and the radius beyond which a sample is far.

    Parameters
    ----------
    features : numpy.ndarray
        (n, d) features of the trainer's points to cluster.
    k : int
        Clusters wanted (fewer when there are fewer distinct points).
    reach : float
        The radius is `reach` times the `RADIUS_QUANTILE` of the points' distances to their centre.
    seed : int
        Seed of k-means' initialisation: the same seed gives the same centres.

    Returns
    -------
    Clusters
        The centres (float32) and radius.
    """
    features = np.asarray(features, dtype=np.float64)
    k = min(k, len(np.unique(features, axis=0)))
    fit = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(features)
    distance = np.linalg.norm(features - fit.cluster_centers_[fit.labels_], axis=1)
    radius = reach * float(np.quantile(distance, RADIUS_QUANTILE))
    return Clusters(fit.cluster_centers_.astype(np.float32), radius)


def cell_worth(gains: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """What one received sample of each cell proved worth: the hard-accuracy gain of training with the
    cell's pooled samples, per sample, none below 0 (a cell that did not help is worth nothing).

    Parameters
    ----------
    gains : numpy.ndarray
        Per cell, held-out hard accuracy with its pool minus the control's (0 for an empty pool).
    sizes : numpy.ndarray
        Per cell, the samples pooled.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    return np.where(sizes > 0, np.maximum(gains, 0.0) / np.maximum(sizes, 1.0), 0.0)


def owner_values(
    utility: Mapping[str, float],
    received: Mapping[str, np.ndarray],
    held: Mapping[str, np.ndarray],
    worth: np.ndarray,
) -> dict[str, float]:
    """Each owner's value: its subset's utility times the worth it holds over the worth it sent.

    Parameters
    ----------
    utility : mapping of str to float
        Each owner's utility, measured on its subset alone.
    received : mapping of str to numpy.ndarray
        Per owner, its samples the trainer received in each cell (flattened counts).
    held : mapping of str to numpy.ndarray
        Per owner, its reported histogram (flattened counts, same cells).
    worth : numpy.ndarray
        Per cell, the worth of one sample (`cell_worth`).

    Returns
    -------
    dict of str to float
        Owner to value; the subset's utility as is where what it sent proved worth nothing (nothing
        to scale by).
    """
    values = {}
    for owner, u in utility.items():
        sent = float(np.asarray(received[owner], dtype=np.float64) @ worth)
        holds = float(np.asarray(held[owner], dtype=np.float64) @ worth)
        values[owner] = u * holds / sent if sent > 0 else u
    return values
