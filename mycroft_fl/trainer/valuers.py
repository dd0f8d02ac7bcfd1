"""Valuers: how the trainer turns what owners sent into one value per owner.

A valuer is a small object with its own parameters (checked when it is made), separate from the
selector that decided what the owners sent: a strategy preset names one of each. Every valuer works
on the same utility, `Coalitions` (the held-out hard-accuracy gain of training with some owners'
data), so they differ only in which coalitions they pay to train and how they combine them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from mycroft_fl.core.clusters import Clusters
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.params import (
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    Boolean,
    Constraint,
    Interval,
    build_named,
    check_params,
)
from mycroft_fl.core.progress import Progress
from mycroft_fl.trainer.coalitions import Coalitions
from mycroft_fl.trainer.ecoval import cell_worth, owner_values
from mycroft_fl.trainer.games import Game, ValuationResult, leave_one_out, shapley
from mycroft_fl.trainer.inrun import in_run_shapley
from mycroft_fl.trainer.trainer import Trainer

#: Exact Shapley over more owners than this (over a million retrains) is refused.
MAX_EXACT = 20


@dataclass(frozen=True)
class Valuer:
    """Values owners from their coalitions' utility. Subclasses set `name`, what an owner's value
    means (`meaning`, for the report), whether it trains coalitions of several owners (`on_coalitions`:
    slow, progress is shown), whether its query carries cluster centres owners count their data in
    (`sends_clusters`) and the `constraints` of their parameters."""

    name: ClassVar[str] = ""
    meaning: ClassVar[str] = ""
    on_coalitions: ClassVar[bool] = False
    sends_clusters: ClassVar[bool] = False
    constraints: ClassVar[dict[str, Constraint]] = {}

    def __post_init__(self) -> None:
        check_params(asdict(self), self.constraints, where=f"valuer {self.name!r}: ")

    def params(self) -> dict[str, float | int]:
        return asdict(self)

    def query_clusters(self, trainer: Trainer) -> Clusters | None:
        """The cluster centres the query carries for this valuer (None: the query carries none)."""
        return None

    def value(
        self, coalitions: Coalitions, *, seed: int = 0, progress: Progress | None = None
    ) -> ValuationResult:
        """Each owner's value.

        Parameters
        ----------
        coalitions : Coalitions
            The utility of any set of owners (memoised: each distinct set is trained once).
        seed : int
            Seed of any random choice (orders of Monte Carlo Shapley).
        progress : callable, optional
            Called as `progress(stage, done, total)` while coalitions are trained.

        Returns
        -------
        ValuationResult
            Owner id to value (higher is more useful), with standard errors when the method samples.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class Retrain(Valuer):
    """Each owner's data alone: its utility is the held-out hard-accuracy gain of training with only
    its subset (one retrain per owner)."""

    name: ClassVar[str] = "retrain"
    meaning: ClassVar[str] = "its held-out hard accuracy minus the control's"

    def value(
        self, coalitions: Coalitions, *, seed: int = 0, progress: Progress | None = None
    ) -> ValuationResult:
        values = {p: coalitions.utility(frozenset({p})) for p in coalitions.players}
        return ValuationResult(values, evaluations=len(values))


@dataclass(frozen=True)
class LeaveOneOut(Valuer):
    """Leave-one-out over owners: v(all) − v(all but it), 2n + 1 retrains with the per-owner scores."""

    name: ClassVar[str] = "loo"
    meaning: ClassVar[str] = "its leave-one-out value, v(all owners) − v(all owners but it)"
    on_coalitions: ClassVar[bool] = True

    def value(
        self, coalitions: Coalitions, *, seed: int = 0, progress: Progress | None = None
    ) -> ValuationResult:
        game = _game(self, coalitions, len(coalitions.players) + 1, progress)
        return ValuationResult(leave_one_out(game), evaluations=game.evaluations)


@dataclass(frozen=True)
class Shapley(Valuer):
    """Data Shapley over owners: exact for at most `exact_up_to` owners (2^n retrains), truncated Monte
    Carlo beyond, an order cut once its prefix is within `truncation` (relative) of the value of all
    owners. Monte Carlo stops when the ranking stays put (Spearman between checks every `check_every`
    orders at least `rank_correlation`, twice in a row) or after `permutations` orders, and reports
    each value's standard error."""

    name: ClassVar[str] = "shapley"
    meaning: ClassVar[str] = (
        "its Shapley value (exact for few owners, truncated Monte Carlo beyond)"
    )
    on_coalitions: ClassVar[bool] = True
    constraints: ClassVar[dict[str, Constraint]] = {
        "exact_up_to": Interval(int, 0, MAX_EXACT),
        "permutations": POSITIVE_INT,
        "truncation": Interval(float, 0, 1, closed="left"),
        "check_every": POSITIVE_INT,
        "rank_correlation": Interval(float, 0, 1, closed="right"),
    }
    exact_up_to: int = 10
    permutations: int = 100
    truncation: float = 0.01
    check_every: int = 20
    rank_correlation: float = 0.95

    def value(
        self, coalitions: Coalitions, *, seed: int = 0, progress: Progress | None = None
    ) -> ValuationResult:
        n = len(coalitions.players)
        expected = 2**n if n <= self.exact_up_to else self.permutations * n + 1
        game = _game(self, coalitions, expected, progress)
        return shapley(
            game,
            exact_up_to=self.exact_up_to,
            permutations=self.permutations,
            tolerance=self.truncation,
            check_every=self.check_every,
            rank_correlation=self.rank_correlation,
            seed=seed,
        )


@dataclass(frozen=True)
class InRun(Valuer):
    """In-Run Data Shapley (`trainer/inrun.py`): every owner valued in one run of the trainer's scoring
    procedure on its data plus all the owners' subsets (first order, plus the batch's interaction
    term with `second_order`); then the `recheck` best are retrained alone and rank first, by those
    exact utilities."""

    name: ClassVar[str] = "inrun"
    meaning: ClassVar[str] = (
        "its In-Run Data Shapley value (the drop of the held-out hard samples' loss its samples caused "
        "in one training run with every owner's data) or, for the `recheck` best, which rank first, v(its "
        "data alone)"
    )
    on_coalitions: ClassVar[bool] = True
    constraints: ClassVar[dict[str, Constraint]] = {
        "recheck": NON_NEGATIVE_INT,
        "second_order": Boolean(),
    }
    recheck: int = 0
    second_order: bool = False

    def value(
        self, coalitions: Coalitions, *, seed: int = 0, progress: Progress | None = None
    ) -> ValuationResult:
        run = in_run_shapley(
            coalitions.trainer,
            coalitions.subsets,
            second_order=self.second_order,
            progress=progress,
        )
        values = dict(run.values)
        best = tuple(sorted(values, key=lambda k: (-values[k], k))[: self.recheck])
        for i, k in enumerate(best):
            values[k] = coalitions.utility(frozenset({k}))
            if progress:
                progress("inrun: best owners rechecked", i + 1, len(best))
        return ValuationResult(
            values,
            evaluations=len(best),
            first=best,
            cost={"inrun_steps": run.steps, "per_sample_gradients": run.per_sample_gradients},
        )


@dataclass(frozen=True)
class EcoVal(Valuer):
    """EcoVal over owners (`trainer/ecoval.py`): the query carries `clusters` k-means centres of the
    trainer's features; each owner reports how many of its samples of the hard classes fall in each
    (a far cell beyond `reach` times the clusters' typical radius); the trainer retrains once per cell
    on the samples it received there, pooled over the owners not judged harmful, and values each
    owner as its subset's utility times the worth it holds over the worth it sent."""

    name: ClassVar[str] = "ecoval"
    meaning: ClassVar[str] = (
        "its subset's held-out hard-accuracy gain scaled by the worth of all its data of the hard "
        "classes over the worth of what it sent, each sample worth what the received samples of its "
        "cluster proved worth"
    )
    sends_clusters: ClassVar[bool] = True
    constraints: ClassVar[dict[str, Constraint]] = {
        "clusters": Interval(int, 1, 256),
        "reach": Interval(float, 0, None, closed="neither"),
    }
    clusters: int = 4
    reach: float = 2.0

    def query_clusters(self, trainer: Trainer) -> Clusters:
        return trainer.clusters(self.clusters, self.reach)

    def value(
        self, coalitions: Coalitions, *, seed: int = 0, progress: Progress | None = None
    ) -> ValuationResult:
        trainer = coalitions.trainer
        clusters = self.query_clusters(trainer)
        classes = np.unique(trainer.hard_query.y)
        n_cells = len(classes) * clusters.cells_per_class
        sent = {k: s for k, s in coalitions.subsets.items() if len(s)}
        cells = {k: clusters.cells(trainer.features(s.x), s.y, classes) for k, s in sent.items()}
        pooled = [k for k in sent if not coalitions.owners[k].harmful]
        pools = {
            c: Dataset.concat([sent[k].subset(np.flatnonzero(cells[k] == c)) for k in pooled])
            for c in range(n_cells)
            if any((cells[k] == c).any() for k in pooled)
        }
        scores = coalitions.score_data(list(pools.values()))
        if progress:
            progress("ecoval: clusters valued", len(pools), len(pools))
        gains, sizes = np.zeros(n_cells), np.zeros(n_cells)
        for c, score in zip(pools, scores):
            gains[c] = score.hard_accuracy - trainer.control.hard_accuracy
            sizes[c] = len(pools[c])
        received = {
            k: np.bincount(cells[k][cells[k] >= 0], minlength=n_cells)
            if k in sent
            else np.zeros(n_cells)
            for k in coalitions.players
        }
        held = {
            k: received[k] if o.histogram is None else o.histogram.ravel()
            for k, o in coalitions.owners.items()
        }
        utility = {k: coalitions.utility(frozenset({k})) for k in coalitions.players}
        values = owner_values(utility, received, held, cell_worth(gains, sizes))
        return ValuationResult(
            values,
            evaluations=len(values) + len(pools),
            cost={"cluster_retrains": len(pools), "cluster_cells": n_cells},
        )


@dataclass(frozen=True)
class DataOOB(Valuer):
    """Data-OOB (Kwon and Zou, 2023) through pyDVL (extra `mycroft-fl[dvl]`, `trainer/dvl.py`): the
    trainer fits `bags` models, each on its training set plus a bootstrap sample of every point the
    owners sent; a point's value is the share of the models that did not see it which label it as it
    is labelled, and an owner's value the sum over its points. Cheap (`bags` retrains, whatever the
    number of owners) and made to find mislabelled points; it does not measure the hard-accuracy gain."""

    name: ClassVar[str] = "data-oob"
    meaning: ClassVar[str] = (
        "its Data-OOB value: summed over the samples it sent, the share of bagged models not trained "
        "on a sample that label it as it is labelled"
    )
    on_coalitions: ClassVar[bool] = True
    constraints: ClassVar[dict[str, Constraint]] = {"bags": Interval(int, 2, 10_000)}
    bags: int = 32

    def value(
        self, coalitions: Coalitions, *, seed: int = 0, progress: Progress | None = None
    ) -> ValuationResult:
        from mycroft_fl.trainer import dvl

        def shown(done: int) -> None:
            if progress:
                progress(f"{self.name}: bagged models fitted", done, self.bags)

        return dvl.data_oob(
            coalitions.subsets, coalitions.fit, bags=self.bags, seed=seed, progress=shown
        )


@dataclass(frozen=True)
class _PyDVLSemivalue(Valuer):
    """A pyDVL semivalue over owners (extra `mycroft-fl[dvl]`, `trainer/dvl.py`): each owner one group of
    a `GroupedDataset`, the utility this project's game (`Coalitions`); stops after `samples` or once
    the ranking settles (pyDVL's RankCorrelation: the Spearman correlation between successive updates
    changes by less than `rank_rtol`, relative, every owner updated more than `burn_in` times)."""

    method: ClassVar[str] = ""
    on_coalitions: ClassVar[bool] = True
    samples: int = 200
    rank_rtol: float = 0.001
    burn_in: int = 50

    def value(
        self, coalitions: Coalitions, *, seed: int = 0, progress: Progress | None = None
    ) -> ValuationResult:
        from mycroft_fl.trainer import dvl

        n = len(coalitions.players)
        expected = min(2**n, self.samples * (n if self.method == "tmc" else 1) + 2)
        game = _game(self, coalitions, expected, progress)
        return dvl.semivalue(
            game,
            dvl.grouped(coalitions.subsets, game.players),
            method=self.method,
            samples=self.samples,
            rank_rtol=self.rank_rtol,
            burn_in=self.burn_in,
            truncation=getattr(self, "truncation", 0.0),
            seed=seed,
        )


_SEMIVALUE: dict[str, Constraint] = {
    "samples": POSITIVE_INT,
    "rank_rtol": Interval(float, 0, 1),
    "burn_in": NON_NEGATIVE_INT,
}


@dataclass(frozen=True)
class Banzhaf(_PyDVLSemivalue):
    """MSR-Banzhaf over owners (Wang and Jia, 2023) through pyDVL: every sampled coalition (each owner
    in it with probability 1/2) is trained once and updates every owner's value, the mean utility of
    the sampled coalitions with it minus the mean of those without; `samples` coalitions at most."""

    name: ClassVar[str] = "banzhaf"
    meaning: ClassVar[str] = (
        "its Banzhaf value (pyDVL's MSR-Banzhaf): the mean gain of the coalitions of owners with it "
        "over those without it"
    )
    method: ClassVar[str] = "banzhaf"
    constraints: ClassVar[dict[str, Constraint]] = _SEMIVALUE
    samples: int = 300


@dataclass(frozen=True)
class TMCShapley(_PyDVLSemivalue):
    """Truncated Monte Carlo Shapley over owners through pyDVL (TMCShapleyValuation, the field's
    implementation of the `shapley` valuer's Monte Carlo): at most `samples` random orders, an order
    cut once its prefix is within `truncation` (relative) of the value of all owners."""

    name: ClassVar[str] = "tmc-shapley"
    meaning: ClassVar[str] = "its Shapley value estimated by pyDVL's truncated Monte Carlo"
    method: ClassVar[str] = "tmc"
    constraints: ClassVar[dict[str, Constraint]] = {
        **_SEMIVALUE,
        "truncation": Interval(float, 0, 1, closed="left"),
    }
    samples: int = 100
    burn_in: int = 20
    truncation: float = 0.01


VALUERS: dict[str, type[Valuer]] = {
    c.name: c for c in (Retrain, LeaveOneOut, Shapley, InRun, EcoVal, DataOOB, Banzhaf, TMCShapley)
}


def make_valuer(name: str, **params: object) -> Valuer:
    """The valuer called `name` with `params`; an unknown name or parameter, or a bad value, is an
    InputError naming it."""
    return build_named("valuer", VALUERS, name, params)


def _game(valuer: Valuer, coalitions: Coalitions, expected: int, progress: Progress | None) -> Game:
    """The cooperative game of `coalitions`, showing how many of the `expected` coalitions are valued."""

    def value(coalition: frozenset[str]) -> float:
        v = coalitions.utility(coalition)
        if progress:
            progress(
                f"{valuer.name}: coalitions valued", min(game.evaluations + 1, expected), expected
            )
        return v

    game = Game(coalitions.players, value)
    return game
