"""Trainer-side screening of what owners send: replays of the trainer's own hard samples, near-copies
within and across owners' subsets, and how far the received labels agree with the trainer's own
labelled data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import NearestNeighbors

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.standardise import fit_standardisation
from mycroft_fl.trust.harm import FOREST, NEIGHBOURS, LabelAudit, PairedChange

FOREST_TREES = 100
CHUNK = 256  # rows whose distances to every trainer sample are held at once


class Copies(NamedTuple):
    """Near-copies among owners' subsets (`Screen.copies`): per subset, which samples repeat an
    earlier one of the same subset (`within`), how many owners sent a copy of each (`holders`), and
    for each ordered pair of subsets (i, j) how many of i's samples j holds a copy of (`shared`)."""

    within: list[np.ndarray]
    holders: list[np.ndarray]
    shared: dict[tuple[int, int], int]


class Screen:
    """Compares received samples with the trainer's data in standardised input space.

    A received sample within `replay_radius` × (the median distance between a trainer sample and its
    nearest other trainer sample) of a hard query sample is a replay: the owner sent back the
    trainer's own sample, or a near-copy of it, and must not be credited for it. Label agreement is
    the fraction of received samples whose label a voter fitted to the trainer's train and validation
    sets predicts. What it means depends on the task (on Fashion-MNIST's look-alike garments a vote on
    pixels is right about half the time, on digits nine times in ten), so `expected_agreement`
    calibrates it on the trainer's own labelled data, with the voter's held-out votes.

    The voter (`voter`) is the majority of the `k` nearest trainer samples, unless the samples are
    feature vectors and a random forest predicts the trainer's held-out labels of the audited
    `classes` better beyond noise (paired McNemar test of its out-of-bag votes against the neighbours'
    leave-one-out votes, z = 3): in a table where a few columns carry the label, distances are
    dominated by the others and the neighbours' vote is weak, so an audit of a few dozen rows cannot
    tell clean labels from flipped ones, while a forest picks the columns that matter. Images keep the
    neighbours' vote: a forest splits on single pixels, and partly erased or occluded images, useful
    as they are, then vote wrong.
    """

    def __init__(
        self,
        labelled: Dataset,
        hard_query: Dataset,
        *,
        n_classes: int | None = None,
        classes: Sequence[int] | None = None,
        forest: bool = True,
        replay_radius: float = 0.1,
        k: int = 5,
        reference_size: int = 2000,
        seed: int = 0,
    ):
        """`classes`: the classes whose labels will be audited (default: all); the forest must beat
        the neighbours on them. `forest`: whether a forest may take the vote at all. The forest
        learns from at most `reference_size` trainer samples, so its cost stays bounded however
        large the trainer's data."""
        self.mean, self.std = fit_standardisation(labelled.x.reshape(len(labelled), -1))
        self.ref, self.ref_y = self._standardise(labelled.x), labelled.y
        self.hard = self._standardise(hard_query.x)
        self.k = min(k, len(labelled))
        sample = np.random.default_rng(seed).permutation(len(self.ref))[:reference_size]
        d = _distances(self.ref[sample], self.ref[sample])
        np.fill_diagonal(d, np.inf)
        nearest = d.min(axis=1)
        nearest = nearest[
            np.isfinite(nearest) & (nearest > 0)
        ]  # exact duplicates in the trainer's data aside
        self.radius = replay_radius * (float(np.median(nearest)) if len(nearest) else 1.0)
        self.n_classes = int(n_classes if n_classes is not None else labelled.y.max() + 1)
        self.voter = NEIGHBOURS
        self._forest: RandomForestClassifier | None = None
        self.class_agreement: dict[int, float] = {}
        self.hard_agreement: dict[int, float] = {}
        if len(self.ref) <= self.k:
            return  # too small to calibrate a vote on
        labels = self.ref_y[sample]
        held_out = self._neighbour_votes(self.ref[sample], own=sample)
        if forest and labelled.x.ndim == 2 and len(np.unique(labels)) > 1:
            model = RandomForestClassifier(
                FOREST_TREES, oob_score=True, random_state=seed, n_jobs=1
            ).fit(self.ref[sample], labels)
            oob = model.classes_[np.nan_to_num(model.oob_decision_function_).argmax(axis=1)]
            audited = np.isin(labels, classes) if classes is not None else slice(None)
            change = PairedChange.of(
                held_out[audited] == labels[audited], oob[audited] == labels[audited]
            )
            if change.gain_beyond_noise():
                self.voter, self._forest, held_out = FOREST, model, oob
        agree = held_out == labels
        self.class_agreement = {int(c): float(agree[labels == c].mean()) for c in np.unique(labels)}
        hard_votes = self._held_out_votes(self.hard, self.ref[sample], held_out)
        self.hard_agreement = {
            int(c): float(np.mean(hard_votes[hard_query.y == c] == c))
            for c in np.unique(hard_query.y)
        }

    def _held_out_votes(self, z: np.ndarray, voters: np.ndarray, votes: np.ndarray) -> np.ndarray:
        """The voter's labels for the standardised rows `z`, none voting for itself: a row that is
        one of the trainer's samples gets the neighbours' vote without itself, or the forest's
        out-of-bag vote when it is one of the forest's `voters` (whose held-out `votes` are
        given)."""
        if len(z) == 0:
            return np.empty(0, dtype=self.ref_y.dtype)
        if self._forest is None:
            d = _distances(z, self.ref)
            d[d == 0] = np.inf
            return self._votes(d)
        d = _distances(z, voters)
        own = d.argmin(axis=1)
        return np.where(d[np.arange(len(z)), own] == 0, votes[own], self._forest.predict(z))

    def _neighbour_votes(self, z: np.ndarray, own: np.ndarray | None = None) -> np.ndarray:
        """The majority label of the k nearest trainer samples of each standardised row of `z`, a chunk
        of rows at a time; `own`: each row's index among the trainer's samples, which is then not its
        own neighbour (a leave-one-out vote)."""
        votes = np.empty(len(z), dtype=self.ref_y.dtype)
        for start in range(0, len(z), CHUNK):
            d = _distances(z[start : start + CHUNK], self.ref)
            if own is not None:
                d[np.arange(len(d)), own[start : start + CHUNK]] = np.inf
            votes[start : start + CHUNK] = self._votes(d)
        return votes

    def _votes(self, d: np.ndarray) -> np.ndarray:
        """The majority label of the k nearest trainer samples, per row of distances `d` to them."""
        near = np.argpartition(d, self.k - 1, axis=1)[:, : self.k]
        return np.array([np.bincount(v).argmax() for v in self.ref_y[near]])

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return (x.reshape(len(x), -1).astype(np.float64) - self.mean) / self.std

    def replays(self, subset: Dataset) -> np.ndarray:
        """Mask of the received samples that (nearly) duplicate a hard query sample."""
        if len(subset) == 0 or len(self.hard) == 0:
            return np.zeros(len(subset), dtype=bool)
        return _distances(self._standardise(subset.x), self.hard).min(axis=1) <= self.radius

    def copies(self, subsets: Sequence[Dataset]) -> Copies:
        """Near-copies among what owners sent: a sample and another of the same label within the
        replay radius of each other (a copy, however slightly jittered, of one sample). Within one
        owner's subset only the first of such samples counts (`within`: the later ones); across
        owners each sample counts once, shared among the owners that sent it (`holders`: how
        many owners sent a copy of it, itself included).

        Parameters
        ----------
        subsets : sequence of Dataset
            Each owner's subset.

        Returns
        -------
        Copies
            Per subset, the mask of its own near-copies and the holders of each sample.
        """
        sizes = [len(d) for d in subsets]
        owner = np.repeat(np.arange(len(subsets)), sizes)
        within = [np.zeros(n, dtype=bool) for n in sizes]
        holders = [np.ones(n, dtype=np.int64) for n in sizes]
        shared: dict[tuple[int, int], int] = {}
        if sum(sizes) < 2:
            return Copies(within, holders, shared)
        z = self._standardise(np.concatenate([d.x for d in subsets if len(d)]))
        y = np.concatenate([d.y for d in subsets if len(d)])
        start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        neighbours = (
            NearestNeighbors(radius=self.radius).fit(z).radius_neighbors(z, return_distance=False)
        )
        for i, near in enumerate(neighbours):
            near = near[y[near] == y[i]]
            o, k = owner[i], i - start[owner[i]]
            within[o][k] = bool(np.any((owner[near] == o) & (near < i)))
            others = np.unique(owner[near])
            holders[o][k] = len(others)
            for j in others[others != o].tolist():
                shared[(int(o), j)] = shared.get((int(o), j), 0) + 1
        return Copies(within, holders, shared)

    def audit(self, sample: Dataset, *, as_hard: bool = False) -> LabelAudit | None:
        """The voter's agreement with the labels of `sample` (an owner's random audit sample, or what it
        sent), beside what clean and wrong labels of its classes would reach (None for no samples);
        `as_hard`: clean labels calibrated as in `expected_agreement`."""
        if len(sample) == 0:
            return None
        agreeing = int(np.count_nonzero(self.predict(sample.x) == sample.y))
        expected = self.expected_agreement(sample.y, as_hard=as_hard)
        return LabelAudit(agreeing, len(sample), *expected, self.voter)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The voter's labels for the samples `x`."""
        if len(x) == 0:
            return np.empty(0, dtype=self.ref_y.dtype)
        z = self._standardise(x)
        return self._forest.predict(z) if self._forest is not None else self._neighbour_votes(z)

    def expected_agreement(
        self, y: np.ndarray, *, as_hard: bool = False
    ) -> tuple[float | None, float | None]:
        """The label agreement that clean labels `y` would reach (per label, the trainer's own leave-one-out
        figure for its class, `class_agreement`), and that labels flipped to a random other class would
        ((1 − clean) / (C − 1)). None, None for no labels or a trainer too small to calibrate on.

        `as_hard`: clean labels may be as hard to vote on as the trainer's own hard samples (per label,
        the lower of its class's figure and `hard_agreement`'s): where a cue in the trainer's data
        misleads the vote on the very kind of sample it lacks, right labels of that kind disagree
        with the vote as wrong ones would, and the vote is no evidence against them."""
        if len(y) == 0 or not self.class_agreement:
            return None, None
        overall = float(np.mean(list(self.class_agreement.values())))
        clean = np.array([self.class_agreement.get(int(c), overall) for c in y])
        if as_hard:
            hard = np.array([self.hard_agreement.get(int(c), 1.0) for c in y])
            clean = np.minimum(clean, hard)
        wrong = (1 - clean) / max(self.n_classes - 1, 1)
        return float(clean.mean()), float(wrong.mean())


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of `a` and `b`."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))
