"""Classic data valuation over owners, the field's baselines for Mycroft: leave-one-out and Data
Shapley (exact for few owners, truncated Monte Carlo beyond), on a value function of owner sets.

`value(S)` is the trainer's utility after training with the data of the owners in S; every distinct
set is evaluated once (memoised), and `Game.evaluations` counts the retrains it cost.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats


class Game:
    """A cooperative game over `players` with a memoised `value` of each coalition."""

    def __init__(self, players: Sequence[str], value: Callable[[frozenset[str]], float]):
        if len(set(players)) != len(players):
            raise ValueError("players must be distinct")
        self.players = list(players)
        self._value = value
        self._memo: dict[frozenset[str], float] = {}

    @property
    def evaluations(self) -> int:
        return len(self._memo)

    def value(self, coalition: frozenset[str]) -> float:
        if coalition not in self._memo:
            self._memo[coalition] = float(self._value(coalition))
        return self._memo[coalition]


@dataclass(frozen=True)
class ValuationResult:
    """Each player's value and what is known of its error, as pyDVL's ValuationResult carries them.

    Parameters
    ----------
    values : dict
        Player to value; higher is more useful.
    stderr : dict, optional
        Player to the standard error of its value; None when the method has no sampling error
        (exact Shapley, leave-one-out, one retrain per player).
    converged : bool
        Whether the method's stopping rule was met (always true for exact methods); false when a
        Monte Carlo estimate ran out of permutations first.
    permutations : int, optional
        Random orders a Monte Carlo estimate sampled (None for other methods).
    evaluations : int
        Distinct coalitions valued.
    first : tuple of str
        Players valued exactly after a cheap pre-ranking: they rank above all the others.
    cost : dict
        What the method spent beyond coalitions (e.g. training runs, per-sample gradients).
    """

    values: dict[str, float]
    stderr: dict[str, float] | None = None
    converged: bool = True
    permutations: int | None = None
    evaluations: int = 0
    first: tuple[str, ...] = ()
    cost: Mapping[str, int] = field(default_factory=dict)

    def ranking_scores(self) -> dict[str, float]:
        """Numbers whose order is the ranking: the values, with the `first` players lifted above all
        the others while keeping their own order."""
        rest = [v for k, v in self.values.items() if k not in self.first]
        if not self.first or not rest:
            return dict(self.values)
        lift = max(0.0, max(rest) - min(self.values[k] for k in self.first)) + 1.0
        return {k: v + lift if k in self.first else v for k, v in self.values.items()}


def leave_one_out(game: Game) -> dict[str, float]:
    """Each player's value: v(all) − v(all without it)."""
    everyone = frozenset(game.players)
    return {p: game.value(everyone) - game.value(everyone - {p}) for p in game.players}


def exact_shapley(game: Game) -> dict[str, float]:
    """Shapley values by enumerating every coalition (2^n evaluations)."""
    n = len(game.players)
    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    out = {}
    for p in game.players:
        others = [q for q in game.players if q != p]
        out[p] = sum(
            weights[k] * (game.value(frozenset(s) | {p}) - game.value(frozenset(s)))
            for k in range(n)
            for s in itertools.combinations(others, k)
        )
    return out


def tmc_shapley(
    game: Game,
    *,
    permutations: int = 100,
    tolerance: float = 0.01,
    check_every: int = 20,
    rank_correlation: float = 0.95,
    seed: int = 0,
) -> ValuationResult:
    """Truncated Monte Carlo Shapley (Ghorbani & Zou, 2019) with its standard errors and a stopping
    rule on the ranking's stability.

    Marginal contributions are averaged over random orders; the rest of an order counts as
    contributing nothing once the prefix's value is within `tolerance` (relative) of the value of all
    players. Every `check_every` orders the values are compared with those of the previous check; the
    estimate has converged once their Spearman correlation is at least `rank_correlation` at two
    checks in a row (the ranking stays put, like pyDVL's RankCorrelation), else it stops after
    `permutations` orders.

    Parameters
    ----------
    game : Game
        The game.
    permutations : int
        At most this many random orders.
    tolerance : float
        Truncation tolerance, relative to the value of all players.
    check_every : int
        Orders between two checks of the ranking.
    rank_correlation : float
        Spearman correlation between checks that counts as a stable ranking.
    seed : int
        Seed of the orders.

    Returns
    -------
    ValuationResult
        The means, their standard errors (the spread of the marginal contributions over the orders
        divided by √orders; nan after a single order), whether the ranking settled, and the orders used.
    """
    rng = np.random.default_rng(seed)
    n = len(game.players)
    everyone = frozenset(game.players)
    total, empty = game.value(everyone), game.value(frozenset())
    sums, squares = np.zeros(n), np.zeros(n)
    previous, stable, converged, m = None, 0, False, 0
    while m < permutations and not converged:
        marginal = np.zeros(n)
        prefix, before = frozenset(), empty
        for i in rng.permutation(n):
            if abs(total - before) <= tolerance * abs(total):
                break
            prefix = prefix | {game.players[i]}
            after = game.value(prefix)
            marginal[i], before = after - before, after
        sums += marginal
        squares += marginal**2
        m += 1
        if m % check_every == 0:
            if previous is not None:
                stable = stable + 1 if _spearman(previous, sums / m) >= rank_correlation else 0
            previous, converged = sums / m, stable >= 2
    mean = sums / m
    se = (
        np.sqrt(np.maximum(squares - m * mean**2, 0.0) / (m - 1) / m)
        if m > 1
        else np.full(n, math.nan)
    )
    return ValuationResult(
        values=dict(zip(game.players, mean.tolist())),
        stderr=dict(zip(game.players, se.tolist())),
        converged=converged,
        permutations=m,
        evaluations=game.evaluations,
    )


def shapley(
    game: Game,
    *,
    exact_up_to: int = 10,
    permutations: int = 100,
    tolerance: float = 0.01,
    check_every: int = 20,
    rank_correlation: float = 0.95,
    seed: int = 0,
) -> ValuationResult:
    """Exact Shapley values for at most `exact_up_to` players, truncated Monte Carlo beyond (see
    `tmc_shapley` for the other parameters)."""
    if len(game.players) <= exact_up_to:
        return ValuationResult(exact_shapley(game), evaluations=game.evaluations)
    return tmc_shapley(
        game,
        permutations=permutations,
        tolerance=tolerance,
        check_every=check_every,
        rank_correlation=rank_correlation,
        seed=seed,
    )


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two value vectors; two constant ones agree fully, one alone not at all."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float(np.ptp(a) == np.ptp(b) == 0)
    return float(stats.spearmanr(a, b).statistic)
