"""An owner's data as it committed to it, and the rows the trainer's audit draws from that commitment.

Before it learns anything of the query, an owner commits to its whole data set (`core.commitment`):
its rows in label-sorted order under a hash tree, whose root binds how many rows it holds of each
class. From then on a row is named by its position in that order. The query then carries the
trainer's audit key; the audit's positions follow from the key and the commitment
(`audit_positions`), so the owner cannot choose them and the trainer can check it opened exactly
those. The owner opens its picks and the audit's rows with their proofs (`Holding.open`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from mycroft_fl.core.commitment import Commitment, MerkleTree, committed_order
from mycroft_fl.core.data import Dataset
from mycroft_fl.owner.budget import share_budget


class Opening(NamedTuple):
    """Rows opened against a commitment: their positions, samples (float32, as committed), labels
    and sibling paths."""

    positions: np.ndarray
    x: np.ndarray
    y: np.ndarray
    proofs: np.ndarray

    @classmethod
    def empty(cls, sample_shape: tuple[int, ...], depth: int) -> Opening:
        return cls(
            np.empty(0, np.int64),
            np.empty((0, *sample_shape), np.float32),
            np.empty(0, np.int64),
            np.empty((0, depth, 32), np.uint8),
        )


class Holding:
    """An owner's data and its commitment: the rows in committed (label-sorted) order under a hash
    tree. Positions 0..n-1 name rows in that order; `rows(positions)` gives the owner's own indices.

    Parameters
    ----------
    data : Dataset
        The owner's data (`x` is read a chunk of rows at a time: it may be a memory map).
    n_classes : int
        The task's classes (every owner's commitment counts them all).
    """

    def __init__(self, data: Dataset, n_classes: int):
        self.data = data
        self.order = committed_order(data.y)
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(len(self.order))
        self.tree = MerkleTree(data.x, data.y, n_classes, order=self.order)

    @property
    def commitment(self) -> Commitment:
        return self.tree.commitment

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The owner's own indices of the rows at `positions`."""
        return self.order[np.asarray(positions, dtype=np.int64)]

    def open(self, rows: np.ndarray) -> Opening:
        """The owner's rows `rows` (its own indices) opened at their positions, in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        positions = self.position[rows]
        x = np.ascontiguousarray(self.data.x[rows], dtype=np.float32)
        return Opening(positions, x, self.data.y[rows].astype(np.int64), self.tree.prove(positions))


#: Separates the audit's random stream from every other draw.
AUDIT_STREAM = b"mycroft-fl audit"


def audit_positions(
    key: int, commitment: Commitment, wanted: Mapping[int, int], size: int
) -> np.ndarray:
    """The positions the trainer's audit draws from an owner's commitment: `size` rows shared over
    the classes of `wanted` as a budget is (`share_budget`: in proportion to `wanted`, capped by what
    the owner holds of each), drawn uniformly without replacement inside each class's committed
    range, from a stream seeded by the trainer's `key` and the commitment's root.

    Weighted by the owner's picks (`label_counts` of their labels), the audit looks where the
    trainer pays: at the classes its picks claim, in their proportions, so an owner whose labels
    are wrong in those classes cannot hide behind clean data of others. An owner learns the key
    only after it committed, so it cannot place clean rows where the audit will look; it chooses
    only which classes its picks claim, and with them where it is audited.

    Parameters
    ----------
    key : int
        The trainer's audit key (>= 0), sent with the query after the commitments came in.
    commitment : Commitment
        The owner's commitment.
    wanted : mapping of int to int
        The weight of each class (the owner's picks per class).
    size : int
        Rows to draw (fewer when the owner holds fewer of those classes).

    Returns
    -------
    numpy.ndarray
        The positions (int64), ascending.
    """
    capacity = {c: commitment.counts[c] for c in wanted if 0 <= c < len(commitment.counts)}
    shares = share_budget(wanted, size, capacity)
    digest = hashlib.sha256(AUDIT_STREAM + int(key).to_bytes(8, "little") + commitment.root)
    rng = np.random.default_rng(int.from_bytes(digest.digest()[:16], "little"))
    drawn = []
    for c in sorted(shares):
        if shares[c]:
            start, stop = commitment.class_range(c)
            drawn.append(start + rng.choice(stop - start, size=shares[c], replace=False))
    return np.sort(np.concatenate(drawn)).astype(np.int64) if drawn else np.empty(0, np.int64)


def label_counts(y: np.ndarray) -> dict[int, int]:
    """Samples per label (the audit's weights: an owner's picks per class)."""
    classes, counts = np.unique(np.asarray(y, dtype=np.int64), return_counts=True)
    return dict(zip(classes.tolist(), counts.tolist()))
