"""Cluster centres of the trainer's feature space, and the histogram an owner reports over them (EcoVal).

The trainer fits the centres; both roles assign samples to them the same way, so the counts an owner
reports and the cells the trainer finds its received samples in mean the same thing. A sample belongs
to its nearest centre, or to the last, "far" cell when it lies beyond `radius` of every centre (data
unlike anything the trainer holds: garbled images land there rather than inflate a useful cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clusters:
    """Centres (k, d) of the trainer's features and the distance beyond which a sample is far.

    Parameters
    ----------
    centres : numpy.ndarray
        One row per cluster, in the trainer model's penultimate features.
    radius : float
        A sample farther than this from every centre counts in the far cell.
    """

    centres: np.ndarray
    radius: float

    @property
    def cells_per_class(self) -> int:
        """Clusters plus the far cell."""
        return len(self.centres) + 1

    def nearest(self, features: np.ndarray) -> np.ndarray:
        """Each sample's cluster (0..k-1), or k when it is farther than `radius` from every centre."""
        if len(features) == 0:
            return np.empty(0, dtype=np.int64)
        d = np.linalg.norm(features[:, None, :] - self.centres[None, :, :], axis=2)
        near = d.argmin(axis=1)
        return np.where(d.min(axis=1) > self.radius, len(self.centres), near).astype(np.int64)

    def cells(self, features: np.ndarray, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Each sample's cell, class row by cluster column flattened (row * cells_per_class + column);
        -1 for a sample of a class not in `classes`."""
        row = np.searchsorted(classes, y)
        known = (row < len(classes)) & (classes[np.minimum(row, len(classes) - 1)] == y)
        return np.where(known, row * self.cells_per_class + self.nearest(features), -1)

    def histogram(self, features: np.ndarray, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """How many samples fall in each cell: (len(classes), cells_per_class) int64 counts.

        Parameters
        ----------
        features : numpy.ndarray
            (n, d) features of the samples, as the centres were fitted on.
        y : numpy.ndarray
            (n,) labels; samples of other classes than `classes` are not counted.
        classes : numpy.ndarray
            The sorted classes, one row each.
        """
        cells = self.cells(features, y, classes)
        counts = np.bincount(cells[cells >= 0], minlength=len(classes) * self.cells_per_class)
        return counts.reshape(len(classes), self.cells_per_class).astype(np.int64)
