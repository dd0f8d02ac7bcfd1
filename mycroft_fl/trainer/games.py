"""Classic data valuation over owners, the field's baselines for Mycroft: leave-one-out and Data
Shapley (exact for few owners, truncated Monte Carlo beyond), on a value function of owner sets.

`value(S)` is the trainer's utility after training with the data of the owners in S; every distinct
set is evaluated once (memoised), and `Game.evaluations` counts the retrains it cost.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np


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
    game: Game, *, permutations: int = 100, tolerance: float = 0.01, seed: int = 0
) -> dict[str, float]:
    """Truncated Monte Carlo Shapley (Ghorbani & Zou, 2019): average marginal contributions over random
    orders, treating the rest of an order as contributing nothing once the prefix's value is within
    `tolerance` (relative) of the value of all players."""
    rng = np.random.default_rng(seed)
    everyone = frozenset(game.players)
    total, empty = game.value(everyone), game.value(frozenset())
    sums = dict.fromkeys(game.players, 0.0)
    for _ in range(permutations):
        prefix, before = frozenset(), empty
        for p in rng.permutation(game.players):
            if abs(total - before) <= tolerance * abs(total):
                break
            prefix = prefix | {p}
            after = game.value(prefix)
            sums[p] += after - before
            before = after
    return {p: s / permutations for p, s in sums.items()}


def shapley(
    game: Game,
    *,
    exact_up_to: int = 10,
    permutations: int = 100,
    tolerance: float = 0.01,
    seed: int = 0,
) -> dict[str, float]:
    """Exact Shapley values for at most `exact_up_to` players, truncated Monte Carlo beyond."""
    if len(game.players) <= exact_up_to:
        return exact_shapley(game)
    return tmc_shapley(game, permutations=permutations, tolerance=tolerance, seed=seed)
