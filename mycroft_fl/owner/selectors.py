"""Owner-side selection: which of its samples an owner shares, under a budget, for the trainer's hard samples.

The single entry point `select` is used by the in-process API and by the Flower ClientApp alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mycroft_fl.core.params import as_count, as_labels, as_matrix
from mycroft_fl.owner.budget import interleave, share_budget
from mycroft_fl.owner.omp import geometric_median, nonneg_ridge_omp
from mycroft_fl.owner.retrieval import normalize_rows, select_retrieval

METHODS = ("mycroft", "gradmatch", "retrieval", "random", "full-information", "loo", "shapley")
#: Classic data valuation over owners (datavaluation.py): leave-one-out and Data Shapley. The owner
#: shares all its data, every sample of every class, and the trainer values owners by retraining.
DATA_VALUATION = ("loo", "shapley")
#: Where Mycroft's penalty measures a candidate's distance from, in its class's hard embeddings.
ANCHORS = ("nearest", "geometric-median")


def budgeted(method: str) -> bool:
    """Whether an owner's reply is held to the query's budget: not under full information nor data valuation."""
    return method not in ("full-information", *DATA_VALUATION)


def shareable(method: str, y: np.ndarray, hard_classes: np.ndarray) -> np.ndarray:
    """Indices of the owner samples `method` may share (of labels `y`): every one under data valuation,
    else those of a hard class. Ascending int64."""
    y = np.asarray(y)
    if method in DATA_VALUATION:
        return np.arange(len(y), dtype=np.int64)
    return np.flatnonzero(np.isin(y, hard_classes)).astype(np.int64)


def reply_rules(method: str, budget: int, hard_classes: np.ndarray) -> dict:
    """What `replies.check_reply` holds a reply to a `method` query to, for the trainer and an honest
    owner alike: `budget` (None when unbudgeted) and `allowed_labels` (the hard classes; None, any
    class, under data valuation, where the owner sends all its data)."""
    return {"budget": budget if budgeted(method) else None,
            "allowed_labels": None if method in DATA_VALUATION else [int(c) for c in np.unique(hard_classes)]}


@dataclass(frozen=True)
class HardView:
    """What an owner is told about the trainer's hard samples.

    y: (m,) labels. embeddings: (m, e) from the shared embedder (retrieval, mycroft). targets: per hard
    class, the SUM of that class's hard samples' last-layer gradients, (D,) (gradmatch, mycroft).
    """

    y: np.ndarray
    embeddings: np.ndarray | None = None
    targets: dict[int, np.ndarray] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "y", as_labels(self.y, "hard.y"))
        if self.embeddings is not None:
            object.__setattr__(self, "embeddings", as_matrix(self.embeddings, "hard.embeddings", rows=len(self.y)))
        if self.targets is not None:
            targets = {int(c): np.asarray(t) for c, t in self.targets.items()}
            sizes = {t.shape for t in targets.values()}
            if len(sizes) > 1 or any(len(s) != 1 for s in sizes):
                raise ValueError(f"hard.targets must all be 1-D of one length, got shapes {sorted(sizes)}")
            if not all(np.isfinite(t).all() for t in targets.values()):
                raise ValueError("hard.targets contains NaN or inf")
            object.__setattr__(self, "targets", targets)

    @property
    def classes(self) -> np.ndarray:
        """The hard classes, ascending."""
        return np.unique(self.y)

    @property
    def counts(self) -> dict[int, int]:
        """Number of hard samples per hard class."""
        classes, counts = np.unique(self.y, return_counts=True)
        return {int(c): int(n) for c, n in zip(classes, counts)}


@dataclass(frozen=True)
class OwnerView:
    """What an owner computes on its own data with the model and embedder it was sent.

    y: (n,) labels. embeddings: (n, e) (retrieval, mycroft). gradients: (n, D) from
    `last_layer_gradients` (gradmatch, mycroft).
    """

    y: np.ndarray
    embeddings: np.ndarray | None = None
    gradients: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "y", as_labels(self.y, "owner.y"))
        for name in ("embeddings", "gradients"):
            if getattr(self, name) is not None:
                checked = as_matrix(getattr(self, name), f"owner.{name}", rows=len(self.y))
                object.__setattr__(self, name, checked)


def select(
    method: str,
    owner: OwnerView,
    hard: HardView,
    budget: int,
    *,
    seed: int = 0,
    ridge: float = 0.5,
    penalty: float = 2.0,
    anchor: str = "nearest",
) -> np.ndarray:
    """Indices of the owner samples to share, unique int64, only of hard-class labels (any label under
    data valuation).

    At most `budget` of them, except for "full-information" (every owner sample of a hard class) and
    data valuation, "loo" and "shapley" (every owner sample: the trainer values whole datasets).
    For "gradmatch", "mycroft" and "random" the budget is shared over the hard classes in proportion to
    their hard-sample counts, capped by the owner's samples per class (`share_budget`); the result lists
    the classes interleaved (each class's best pick, then each class's second, ...), best first within a
    class (largest OMP weight; random order for "random"). The OMP methods may return fewer than the
    budget when no candidate correlates positively with the residual.

    - "gradmatch": per hard class, `nonneg_ridge_omp` of the candidates' gradients to the class target.
    - "mycroft": the same with a penalty that keeps picks near the class's hard samples in embedding
      space: penalty_i = ridge · penalty · d_i² / median_j d_j², d_i the distance of candidate i's
      L2-normalised embedding to the nearest normalised hard embedding of its class (`anchor`
      "nearest"; "geometric-median": to their geometric median, the paper's centre), so the median
      candidate's diagonal is ridge · (1 + penalty). The OMP's greedy step divides each correlation by
      sqrt(ridge + penalty_i) (see `nonneg_ridge_omp`), so a candidate at the median distance needs
      sqrt(1 + penalty) times the correlation of one lying on a hard sample. Free of the gradients' and
      the embeddings' scale.
    - "retrieval": `select_retrieval` on the embeddings (round-robin nearest same-label neighbours).
    - "random": class-stratified uniform sample, `numpy.random.default_rng(seed)`.
    - "full-information": all owner samples whose label is a hard class, ascending.
    - "loo", "shapley": all owner samples, ascending (`shareable`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    budget = as_count(budget, "budget", minimum=1)
    if not (np.isfinite(penalty) and penalty >= 0):
        raise ValueError(f"penalty must be a finite number >= 0, got {penalty}")
    if anchor not in ANCHORS:
        raise ValueError(f"anchor must be one of {', '.join(ANCHORS)}; got {anchor!r}")
    if not budgeted(method):
        return shareable(method, owner.y, hard.classes)
    if method in ("retrieval", "mycroft"):
        _require(owner.embeddings, "owner.embeddings", method)
        _require(hard.embeddings, "hard.embeddings", method)
        if owner.embeddings.shape[1] != hard.embeddings.shape[1]:
            raise ValueError(
                f"hard.embeddings has {hard.embeddings.shape[1]} dimensions "
                f"but owner.embeddings has {owner.embeddings.shape[1]}"
            )
    if method == "retrieval":
        return select_retrieval(owner.embeddings, owner.y, hard.embeddings, hard.y, budget)
    if method == "random":
        rng = np.random.default_rng(as_count(seed, "seed", minimum=0))
        return interleave([rng.choice(cand, size=k, replace=False) for _, cand, k in _quotas(owner, hard, budget)])

    _require(owner.gradients, "owner.gradients", method)
    _require(hard.targets, "hard.targets", method)
    picks = []
    for c, cand, k in _quotas(owner, hard, budget):
        if c not in hard.targets:
            raise ValueError(f"hard.targets has no entry for hard class {c}")
        target = hard.targets[c]
        if target.shape != (owner.gradients.shape[1],):
            raise ValueError(
                f"hard.targets[{c}] has shape {target.shape} but owner.gradients has "
                f"{owner.gradients.shape[1]} columns"
            )
        gradients = owner.gradients[cand]
        weights = None
        if method == "mycroft":
            distance2 = anchor_distance2(owner.embeddings[cand], hard.embeddings[hard.y == c], anchor)
            typical = np.median(distance2)
            typical = typical if typical > 0 else distance2.max()  # more than half lie on hard samples
            weights = ridge * penalty * distance2 / typical if typical > 0 else None
        chosen, _ = nonneg_ridge_omp(gradients, target, k, ridge=ridge, penalty=weights)
        picks.append(cand[chosen])
    return interleave(picks)


def anchor_distance2(points: np.ndarray, references: np.ndarray, anchor: str) -> np.ndarray:
    """Squared distance of each L2-normalised row of `points` to the `anchor` of the L2-normalised rows of
    `references`: the nearest of them, or their geometric median."""
    if anchor == "nearest":
        return nearest_distance2(points, references)
    centre = geometric_median(normalize_rows(references))
    return ((normalize_rows(points) - centre) ** 2).sum(axis=1)


def nearest_distance2(points: np.ndarray, references: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """Squared distance of each L2-normalised row of `points` to the nearest L2-normalised row of
    `references` (in [0, 4]); computed in chunks of rows, so a large owner needs little memory."""
    refs = normalize_rows(references)
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        sims = normalize_rows(points[start:start + chunk]) @ refs.T
        out[start:start + chunk] = np.clip(2.0 - 2.0 * sims.max(axis=1), 0.0, 4.0)
    return out


def _require(value: object, name: str, method: str) -> None:
    if value is None:
        raise ValueError(f"{name} is required by method {method!r}")


def _quotas(owner: OwnerView, hard: HardView, budget: int) -> list[tuple[int, np.ndarray, int]]:
    """(class, owner candidates of that class, share of the budget) for each hard class with a share."""
    candidates = {int(c): np.flatnonzero(owner.y == c) for c in hard.classes}
    shares = share_budget(hard.counts, budget, {c: len(v) for c, v in candidates.items()})
    return [(c, candidates[c], shares[c]) for c in sorted(candidates) if shares[c] > 0]
