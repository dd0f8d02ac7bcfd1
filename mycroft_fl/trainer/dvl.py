"""pyDVL's baselines over owners (optional extra `mycroft-fl[dvl]`): Data-OOB summed over an owner's
points, and MSR-Banzhaf and truncated Monte Carlo Shapley with each owner one group of a pyDVL
`GroupedDataset`, all on this project's utility.

The semivalues run pyDVL's samplers and updates on the project's own game (`games.Game`, memoised, so
a coalition sampled twice is trained once); Data-OOB runs pyDVL's out-of-bag accounting on bagged
models the trainer fits (its own training set plus a bootstrap sample of the points the owners sent).
pyDVL runs here in this process (joblib's default, one job), so the trainer is never copied.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import Classifier, predict
from mycroft_fl.trainer.games import Game, ValuationResult

try:
    with warnings.catch_warnings():  # pyDVL 0.10 uses APIs pyDeprecate 0.14 warns about
        warnings.simplefilter("ignore", FutureWarning)
        from pydvl.valuation import (
            DataOOBValuation,
            GroupedDataset,
            MSRBanzhafValuation,
            TMCShapleyValuation,
        )
        from pydvl.valuation import Dataset as DvlDataset
        from pydvl.valuation.methods.data_oob import point_wise_accuracy
        from pydvl.valuation.samplers.truncation import RelativeTruncation
        from pydvl.valuation.stopping import MaxSamples, NoStopping, RankCorrelation
        from pydvl.valuation.utility.base import UtilityBase
except ImportError as exc:  # the extra is not installed
    raise InputError(
        f"this valuer needs pyDVL ({exc.name} is missing): pip install 'mycroft-fl[dvl]'"
    ) from None


class OwnerUtility(UtilityBase):
    """pyDVL's utility over owners: a sample's subset holds group indices of a `GroupedDataset` whose
    group i is `game.players[i]`; its utility is the game's value of those owners (0 for none)."""

    def __init__(self, game: Game):
        self.game = game

    def __call__(self, sample) -> float:
        if sample is None or len(sample.subset) == 0:
            return self.game.value(frozenset())
        return self.game.value(frozenset(self.game.players[int(i)] for i in sample.subset))


def grouped(subsets: dict[str, Dataset], players: list[str]) -> GroupedDataset:
    """The owners' points as one pyDVL `GroupedDataset`, owner `players[i]` being group i (owners
    without points, which no utility can tell apart from absent, are left out)."""
    held = [(i, subsets[p]) for i, p in enumerate(players) if len(subsets[p])]
    x = np.concatenate([s.x.reshape(len(s), -1) for _, s in held])
    y = np.concatenate([s.y for _, s in held])
    groups = np.concatenate([np.full(len(s), i) for i, s in held])
    return GroupedDataset(x, y, data_groups=groups, group_names=[players[i] for i, _ in held])


def semivalue(
    game: Game,
    data: GroupedDataset,
    *,
    method: str,
    samples: int,
    rank_rtol: float,
    burn_in: int,
    truncation: float = 0.0,
    seed: int = 0,
) -> ValuationResult:
    """pyDVL's MSR-Banzhaf (`method="banzhaf"`) or truncated Monte Carlo Shapley (`"tmc"`) over the
    groups of `data`, on `game`.

    Parameters
    ----------
    game : Game
        The owners' game; its players are the groups of `data` by index.
    data : GroupedDataset
        The owners' points grouped by owner (`grouped`).
    method : {"banzhaf", "tmc"}
        MSRBanzhafValuation or TMCShapleyValuation.
    samples : int
        Stop after this many sampled subsets (MSR) or permutations (TMC): pyDVL's MaxSamples.
    rank_rtol, burn_in : float, int
        Or stop once the Spearman correlation between successive updates changes by less than
        `rank_rtol` (relative), every owner updated more than `burn_in` times: pyDVL's RankCorrelation.
    truncation : float
        TMC only: an order is cut once its prefix is within this fraction of the value of all owners
        (pyDVL's RelativeTruncation, with its default burn-in of 40% of the order).
    seed : int
        Seed of the sampler.

    Returns
    -------
    ValuationResult
        Owner to value (owners without points: 0, exactly their value in any semivalue), standard
        errors, whether the ranking settled before the cap, and the coalitions the game valued.
    """
    utility = OwnerUtility(game)
    if method == "banzhaf":
        valuation = MSRBanzhafValuation(utility, is_done=NoStopping(), seed=seed)
    elif method == "tmc":
        valuation = TMCShapleyValuation(
            utility, truncation=RelativeTruncation(rtol=truncation, burn_in_fraction=0.4), seed=seed
        )
    else:
        raise InputError(f"method must be 'banzhaf' or 'tmc', got {method!r}")
    capped = MaxSamples(valuation.sampler, samples)  # a sample: a subset (MSR), an order (TMC)
    valuation.is_done = capped | RankCorrelation(rtol=rank_rtol, burn_in=burn_in)
    valuation.show_warnings = False
    valuation.fit(data)
    r = valuation.result
    order = {p: i for i, p in enumerate(game.players)}
    values = dict.fromkeys(game.players, 0.0)
    stderr = dict.fromkeys(game.players, 0.0)
    # pyDVL's stderr, with the rounding that leaves a constant owner's variance just below 0 cut off
    errors = np.sqrt(np.maximum(r.variances, 0.0) / np.maximum(1, r.counts))
    for i, v, se in zip(r.indices, r.values, errors):
        values[game.players[int(i)]], stderr[game.players[int(i)]] = float(v), float(se)
    sampled = valuation.sampler.n_samples
    return ValuationResult(
        values=dict(sorted(values.items(), key=lambda kv: order[kv[0]])),
        stderr=stderr,
        converged=sampled < samples,
        permutations=sampled if method == "tmc" else None,
        evaluations=game.evaluations,
    )


class Bagged(ClassifierMixin, BaseEstimator):
    """The trainer's models, each fitted on its training set plus a bootstrap sample of `data`, in the
    form pyDVL's `DataOOBValuation` reads a fitted scikit-learn bagging model: `estimators_` (each with
    `predict`) and `estimators_samples_` (each one's bootstrap indices)."""

    def __init__(
        self,
        fit_model: Callable[[Dataset], Classifier],
        data: Dataset,
        bags: int,
        seed: int = 0,
        progress: Callable[[int], None] | None = None,
    ):
        self.fit_model, self.data, self.bags, self.seed = fit_model, data, bags, seed
        self.progress = progress

    def fit(self, x=None, y=None) -> Bagged:
        """Fit the `bags` models (x and y are ignored: the data was given when made)."""
        rng = np.random.default_rng(self.seed)
        n, shape = len(self.data), self.data.sample_shape
        self.estimators_, self.estimators_samples_ = [], []
        for b in range(self.bags):
            drawn = rng.integers(0, n, n)
            self.estimators_.append(_Predictor(self.fit_model(self.data.subset(drawn)), shape))
            self.estimators_samples_.append(drawn)
            if self.progress:
                self.progress(b + 1)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimators_")

    def __repr__(self) -> str:
        return f"Bagged(bags={self.bags}, seed={self.seed})"


class _Predictor:
    """A trained model's `predict` on flat rows, as pyDVL hands them over."""

    def __init__(self, model: Classifier, shape: tuple[int, ...]):
        self.model, self.shape = model, shape

    def predict(self, x: np.ndarray) -> np.ndarray:
        return predict(self.model, np.asarray(x, dtype=np.float32).reshape(-1, *self.shape))


def data_oob(
    subsets: dict[str, Dataset],
    fit_model: Callable[[Dataset], Classifier],
    *,
    bags: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> ValuationResult:
    """Data-OOB (Kwon and Zou, 2023) summed over each owner's points.

    Parameters
    ----------
    subsets : dict
        Owner to the points it sent.
    fit_model : callable
        Trains the trainer's model with a dataset added to its own training set.
    bags : int
        Bootstrap samples of the pooled points, one model each.
    seed : int
        Seed of the bootstrap.
    progress : callable, optional
        Called with the models fitted so far.

    Returns
    -------
    ValuationResult
        Owner to the sum over its points of the share of the models that label the point as it is
        labelled, among those that did not see it in training (pyDVL's DataOOBValuation with point-wise
        accuracy; a point no bag left out adds 0). No standard error: the points share the models.
    """
    players = list(subsets)
    held = [p for p in players if len(subsets[p])]
    if not held:
        return ValuationResult(dict.fromkeys(players, 0.0))
    pooled = Dataset.concat([subsets[p] for p in held])
    owner_of = np.concatenate([np.full(len(subsets[p]), i) for i, p in enumerate(held)])
    model = Bagged(fit_model, pooled, bags, seed, progress).fit()
    data = DvlDataset(pooled.x.reshape(len(pooled), -1), pooled.y)
    result = DataOOBValuation(model, score=point_wise_accuracy).fit(data).result
    point = np.zeros(len(pooled))
    point[np.asarray(result.indices, dtype=int)] = result.values
    values = dict.fromkeys(players, 0.0)
    values.update({p: float(point[owner_of == i].sum()) for i, p in enumerate(held)})
    return ValuationResult(values)
