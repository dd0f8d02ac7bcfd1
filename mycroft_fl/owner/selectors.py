"""Selectors: which of its samples an owner shares for the trainer's hard samples, under a budget.

A selector is a small object with its own parameters (checked when it is made), built by name on the
owner's side from the query (`make_selector`). The same objects serve the in-process API and the
Flower ClientApp. Budgeted selectors share the budget over the hard classes in proportion to their
hard query counts, capped by the owner's samples per class (`share_budget`), and list the classes
interleaved (each class's best pick, then each class's second, ...).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from mycroft_fl.core.models import Classifier, features_and_logits
from mycroft_fl.core.params import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    Boolean,
    Constraint,
    Interval,
    Options,
    as_count,
    as_labels,
    as_matrix,
    build_named,
    check_params,
)
from mycroft_fl.owner.budget import interleave, share_budget
from mycroft_fl.owner.gradients import (
    EnsembleGradients,
    LastLayerGradients,
    dropout_factors,
    last_layer_factors,
)
from mycroft_fl.owner.omp import geometric_median, nonneg_ridge_omp
from mycroft_fl.owner.retrieval import normalize_rows, select_retrieval

#: Where Mycroft's penalty measures a candidate's distance from, in its class's hard embeddings.
ANCHORS = ("nearest", "geometric-median")
#: The dropout ensemble's parameters (gradmatch, mycroft): masks K >= 1 (1: no dropout), rate in [0, 1).
ENSEMBLE_RULES: dict[str, Constraint] = {
    "ensemble": POSITIVE_INT,
    "dropout": Interval(float, 0, 1, closed="left"),
}


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
            object.__setattr__(
                self, "embeddings", as_matrix(self.embeddings, "hard.embeddings", rows=len(self.y))
            )
        if self.targets is not None:
            targets = {int(c): np.asarray(t) for c, t in self.targets.items()}
            sizes = {t.shape for t in targets.values()}
            if len(sizes) > 1 or any(len(s) != 1 for s in sizes):
                raise ValueError(
                    f"hard.targets must all be 1-D of one length, got shapes {sorted(sizes)}"
                )
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

    y: (n,) labels. embeddings: (n, e) (retrieval, mycroft). gradients (gradmatch, mycroft): factored
    (`Selector.gradients`), or dense (n, D).
    """

    y: np.ndarray
    embeddings: np.ndarray | None = None
    gradients: np.ndarray | LastLayerGradients | EnsembleGradients | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "y", as_labels(self.y, "owner.y"))
        for name in ("embeddings", "gradients"):
            value = getattr(self, name)
            if isinstance(value, LastLayerGradients | EnsembleGradients):
                if len(value) != len(self.y):
                    raise ValueError(f"owner.{name} must have {len(self.y)} rows, got {len(value)}")
            elif value is not None:
                object.__setattr__(self, name, as_matrix(value, f"owner.{name}", rows=len(self.y)))


@dataclass(frozen=True)
class Selector:
    """What an owner sends for a query. Subclasses set `name`, what they need of the model
    (`needs_gradients`, `needs_embeddings`), whether the budget holds them (`budgeted`), and the
    `constraints` of their parameters."""

    name: ClassVar[str] = ""
    budgeted: ClassVar[bool] = True
    needs_gradients: ClassVar[bool] = False
    needs_embeddings: ClassVar[bool] = False
    constraints: ClassVar[dict[str, Constraint]] = {}

    def __post_init__(self) -> None:
        check_params(asdict(self), self.constraints, where=f"selector {self.name!r}: ")

    def params(self) -> dict[str, float | str | bool]:
        """The selector's parameters, as the query carries them."""
        return asdict(self)

    def allowed_labels(self, hard_classes: np.ndarray) -> list[int] | None:
        """The labels a reply may carry: the hard classes (None: any)."""
        return [int(c) for c in np.unique(hard_classes)]

    def reply_rules(self, budget: int, hard_classes: np.ndarray) -> dict:
        """What `check_reply` holds a reply to this selector to, for the trainer and an honest owner
        alike: `budget` (None when unbudgeted) and `allowed_labels`."""
        return {
            "budget": budget if self.budgeted else None,
            "allowed_labels": self.allowed_labels(hard_classes),
        }

    def scope(self, budget: int) -> str:
        """What each owner is asked to share, in words."""
        return f"budget {budget} samples per owner"

    def gradients(
        self, model: Classifier, x: np.ndarray, y: np.ndarray, *, seed: int = 0
    ) -> LastLayerGradients | EnsembleGradients:
        """The last-layer gradients this selector matches, of samples `x` labelled `y` under `model`.

        Parameters
        ----------
        model : Classifier
            The trainer's model.
        x : numpy.ndarray
            (n, ...) samples.
        y : numpy.ndarray
            (n,) labels.
        seed : int
            Seed of any random choice (the query's).

        Returns
        -------
        LastLayerGradients or EnsembleGradients
            Factored gradients, one row per sample.
        """
        return last_layer_factors(*features_and_logits(model, x), y)

    def select(self, owner: OwnerView, hard: HardView, budget: int, *, seed: int = 0) -> np.ndarray:
        """Indices of the owner samples to share: unique int64, at most `budget` when budgeted.

        Parameters
        ----------
        owner : OwnerView
            The owner's labels, and the embeddings or gradients this selector needs.
        hard : HardView
            What the owner is told of the trainer's hard samples.
        budget : int
            The most samples the owner may share.
        seed : int
            Seed of any random choice.

        Returns
        -------
        numpy.ndarray
            Owner indices (int64), classes interleaved, best first within a class.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class GradMatch(Selector):
    """Gradient matching: per hard class, non-negative ridge OMP of the candidates' last-layer gradients
    to the class's target (`nonneg_ridge_omp`, `ridge` λ > 0 keeps the refit well-posed). May return
    fewer than the budget when no candidate still correlates positively with the residual.

    With `ensemble` K > 1, every gradient (the candidates' and the hard samples' alike) is averaged
    over K dropout masks of the penultimate features at rate `dropout` (`dropout_factors`, seeded by
    the query's seed), a dropout ensemble of the trainer's model; K = 1 uses the model as it is.
    """

    name: ClassVar[str] = "gradmatch"
    needs_gradients: ClassVar[bool] = True
    constraints: ClassVar[dict[str, Constraint]] = {"ridge": POSITIVE, **ENSEMBLE_RULES}
    ridge: float = 0.5
    ensemble: int = 1
    dropout: float = 0.5

    def gradients(
        self, model: Classifier, x: np.ndarray, y: np.ndarray, *, seed: int = 0
    ) -> LastLayerGradients | EnsembleGradients:
        if self.ensemble == 1:
            return super().gradients(model, x, y, seed=seed)
        features, _ = features_and_logits(model, x)
        weight = model.head.weight.detach().cpu().numpy()
        head_bias = model.head.bias
        bias = np.zeros(len(weight)) if head_bias is None else head_bias.detach().cpu().numpy()
        return dropout_factors(
            features, weight, bias, y, ensemble=self.ensemble, rate=self.dropout, seed=seed
        )

    def select(self, owner: OwnerView, hard: HardView, budget: int, *, seed: int = 0) -> np.ndarray:
        return _match(self, owner, hard, budget, penalty=None)


@dataclass(frozen=True)
class Mycroft(GradMatch):
    """Gradient matching with a penalty that keeps picks near the class's hard samples in embedding space.

    penalty_i = ridge · penalty · d_i² / median_j d_j², d_i the distance of candidate i's L2-normalised
    embedding to the nearest normalised hard embedding of its class (`anchor` "nearest";
    "geometric-median": to their geometric median, the paper's centre), so the median candidate's
    diagonal is ridge · (1 + penalty). The OMP's greedy step divides each correlation by
    sqrt(ridge + penalty_i) (see `nonneg_ridge_omp`): free of the gradients' and the embeddings' scale.
    `ensemble` and `dropout` as for `GradMatch`. With `fill`, the part of a class's quota that
    gradient matching leaves unused (no candidate correlates positively with the residual any more)
    goes to its candidates nearest the hard samples, as in the paper's union of matching and
    retrieval, so the owner shares all the budget it allows.
    """

    name: ClassVar[str] = "mycroft"
    needs_embeddings: ClassVar[bool] = True
    constraints: ClassVar[dict[str, Constraint]] = {
        **GradMatch.constraints,
        "penalty": NON_NEGATIVE,
        "anchor": Options(ANCHORS),
        "fill": Boolean(),
    }
    penalty: float = 2.0
    anchor: str = "nearest"
    fill: bool = False

    def select(self, owner: OwnerView, hard: HardView, budget: int, *, seed: int = 0) -> np.ndarray:
        _require_embeddings(owner, hard, self.name)
        distances = {}

        def distance2(c: int, cand: np.ndarray) -> np.ndarray:
            if c not in distances:
                distances[c] = anchor_distance2(
                    owner.embeddings[cand], hard.embeddings[hard.y == c], self.anchor
                )
            return distances[c]

        def penalty(c: int, cand: np.ndarray) -> np.ndarray | None:
            d2 = distance2(c, cand)
            typical = np.median(d2)
            typical = typical if typical > 0 else d2.max()  # more than half lie on hard samples
            return self.ridge * self.penalty * d2 / typical if typical > 0 else None

        picks = _match(self, owner, hard, budget, penalty=penalty)
        if not self.fill:
            return picks
        chosen = np.isin(np.arange(len(owner.y)), picks)
        extra = []
        for c, cand, k in _quotas(owner, hard, as_count(budget, "budget", minimum=1)):
            left = k - int(chosen[cand].sum())
            if left > 0:
                nearest = cand[np.argsort(distance2(c, cand), kind="stable")]
                extra.append(nearest[~chosen[nearest]][:left])
        return np.concatenate([picks, *extra]).astype(np.int64)


@dataclass(frozen=True)
class Retrieval(Selector):
    """Feature-space retrieval: round-robin nearest same-label neighbours of the hard samples
    (`select_retrieval`), so every hard sample is covered."""

    name: ClassVar[str] = "retrieval"
    needs_embeddings: ClassVar[bool] = True

    def select(self, owner: OwnerView, hard: HardView, budget: int, *, seed: int = 0) -> np.ndarray:
        _require_embeddings(owner, hard, self.name)
        return select_retrieval(
            owner.embeddings,
            owner.y,
            hard.embeddings,
            hard.y,
            as_count(budget, "budget", minimum=1),
        )


@dataclass(frozen=True)
class Random(Selector):
    """Random samples of the hard classes, stratified like the hard samples (the paper's baseline)."""

    name: ClassVar[str] = "random"

    def select(self, owner: OwnerView, hard: HardView, budget: int, *, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(as_count(seed, "seed", minimum=0))
        quotas = _quotas(owner, hard, as_count(budget, "budget", minimum=1))
        return interleave([rng.choice(cand, size=k, replace=False) for _, cand, k in quotas])


@dataclass(frozen=True)
class FullInformation(Selector):
    """Every owner sample of a hard class, ascending: the reference, not budgeted."""

    name: ClassVar[str] = "full-information"
    budgeted: ClassVar[bool] = False

    def scope(self, budget: int) -> str:
        return "every owner shares all its data of the hard classes"

    def select(self, owner: OwnerView, hard: HardView, budget: int, *, seed: int = 0) -> np.ndarray:
        return np.flatnonzero(np.isin(owner.y, hard.classes)).astype(np.int64)


@dataclass(frozen=True)
class AllData(Selector):
    """Every owner sample of every class, ascending: what classic data valuation (leave-one-out,
    Data Shapley) values. Not budgeted."""

    name: ClassVar[str] = "all-data"
    budgeted: ClassVar[bool] = False

    def allowed_labels(self, hard_classes: np.ndarray) -> list[int] | None:
        return None

    def scope(self, budget: int) -> str:
        return "every owner shares all its data"

    def select(self, owner: OwnerView, hard: HardView, budget: int, *, seed: int = 0) -> np.ndarray:
        return np.arange(len(owner.y), dtype=np.int64)


SELECTORS: dict[str, type[Selector]] = {
    c.name: c for c in (Mycroft, GradMatch, Retrieval, Random, FullInformation, AllData)
}


def make_selector(name: str, **params: object) -> Selector:
    """The selector called `name` with `params`; an unknown name or parameter, or a bad value, is an
    InputError naming it."""
    return build_named("selector", SELECTORS, name, params)


def _match(
    selector: Selector, owner: OwnerView, hard: HardView, budget: int, *, penalty
) -> np.ndarray:
    """Per hard class, `nonneg_ridge_omp` of its candidates' gradients to its target; `penalty(c, cand)`
    gives the candidates' penalty weights (None: plain ridge)."""
    _require(owner.gradients, "owner.gradients", selector.name)
    _require(hard.targets, "hard.targets", selector.name)
    picks = []
    for c, cand, k in _quotas(owner, hard, as_count(budget, "budget", minimum=1)):
        if c not in hard.targets:
            raise ValueError(f"hard.targets has no entry for hard class {c}")
        target = hard.targets[c]
        if target.shape != (owner.gradients.shape[1],):
            raise ValueError(
                f"hard.targets[{c}] has shape {target.shape} but owner.gradients has "
                f"{owner.gradients.shape[1]} columns"
            )
        weights = None if penalty is None else penalty(c, cand)
        chosen, _ = nonneg_ridge_omp(
            owner.gradients[cand], target, k, ridge=selector.ridge, penalty=weights
        )
        picks.append(cand[chosen])
    return interleave(picks)


def _require_embeddings(owner: OwnerView, hard: HardView, name: str) -> None:
    _require(owner.embeddings, "owner.embeddings", name)
    _require(hard.embeddings, "hard.embeddings", name)
    if owner.embeddings.shape[1] != hard.embeddings.shape[1]:
        raise ValueError(
            f"hard.embeddings has {hard.embeddings.shape[1]} dimensions "
            f"but owner.embeddings has {owner.embeddings.shape[1]}"
        )


def anchor_distance2(points: np.ndarray, references: np.ndarray, anchor: str) -> np.ndarray:
    """Squared distance of each L2-normalised row of `points` to the `anchor` of the L2-normalised rows of
    `references`: the nearest of them, or their geometric median."""
    if anchor == "nearest":
        return nearest_distance2(points, references)
    centre = geometric_median(normalize_rows(references))
    return ((normalize_rows(points) - centre) ** 2).sum(axis=1)


def nearest_distance2(
    points: np.ndarray, references: np.ndarray, *, chunk: int = 4096
) -> np.ndarray:
    """Squared distance of each L2-normalised row of `points` to the nearest L2-normalised row of
    `references` (in [0, 4]); computed in chunks of rows, so a large owner needs little memory."""
    refs = normalize_rows(references)
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        sims = normalize_rows(points[start : start + chunk]) @ refs.T
        out[start : start + chunk] = np.clip(2.0 - 2.0 * sims.max(axis=1), 0.0, 4.0)
    return out


def _require(value: object, name: str, selector: str) -> None:
    if value is None:
        raise ValueError(f"{name} is required by selector {selector!r}")


def _quotas(owner: OwnerView, hard: HardView, budget: int) -> list[tuple[int, np.ndarray, int]]:
    """(class, owner candidates of that class, share of the budget) for each hard class with a share."""
    candidates = {int(c): np.flatnonzero(owner.y == c) for c in hard.classes}
    shares = share_budget(hard.counts, budget, {c: len(v) for c, v in candidates.items()})
    return [(c, candidates[c], shares[c]) for c in sorted(candidates) if shares[c] > 0]
