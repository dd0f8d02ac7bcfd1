"""Trainer-side screening of what owners send: replays of the trainer's own hard samples, and how
far the received labels agree with the trainer's own labelled data."""

from __future__ import annotations

import numpy as np

from .data import Dataset


class Screen:
    """Compares received samples with the trainer's data in standardised input space.

    A received sample within `replay_radius` × (the median distance between a trainer sample and its
    nearest other trainer sample) of a hard query sample is a replay: the owner sent back the
    trainer's own sample, or a near-copy of it, and must not be credited for it. Label agreement is
    the fraction of received samples whose label matches the majority label of their `k` nearest
    samples in the trainer's train and validation sets.
    """

    def __init__(self, labelled: Dataset, hard_query: Dataset, *, replay_radius: float = 0.1, k: int = 5,
                 reference_size: int = 2000, seed: int = 0):
        flat = labelled.x.reshape(len(labelled), -1).astype(np.float64)
        self.mean, self.std = flat.mean(axis=0), flat.std(axis=0) + 1e-6
        self.ref, self.ref_y = self._standardise(labelled.x), labelled.y
        self.hard = self._standardise(hard_query.x)
        self.k = min(k, len(labelled))
        sample = np.random.default_rng(seed).permutation(len(self.ref))[:reference_size]
        d = _distances(self.ref[sample], self.ref[sample])
        np.fill_diagonal(d, np.inf)
        nearest = d.min(axis=1)
        nearest = nearest[np.isfinite(nearest) & (nearest > 0)]  # exact duplicates in the trainer's data aside
        self.radius = replay_radius * (float(np.median(nearest)) if len(nearest) else 1.0)

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return (x.reshape(len(x), -1).astype(np.float64) - self.mean) / self.std

    def replays(self, subset: Dataset) -> np.ndarray:
        """Mask of the received samples that (nearly) duplicate a hard query sample."""
        if len(subset) == 0 or len(self.hard) == 0:
            return np.zeros(len(subset), dtype=bool)
        return _distances(self._standardise(subset.x), self.hard).min(axis=1) <= self.radius

    def label_agreement(self, subset: Dataset) -> float | None:
        """Fraction of received labels that a k-nearest-neighbour vote on the trainer's data agrees with."""
        if len(subset) == 0:
            return None
        d = _distances(self._standardise(subset.x), self.ref)
        near = np.argpartition(d, self.k - 1, axis=1)[:, : self.k]
        votes = self.ref_y[near]
        majority = np.array([np.bincount(v).argmax() for v in votes])
        return float(np.mean(majority == subset.y))


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of `a` and `b`."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))
