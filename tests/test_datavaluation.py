"""Leave-one-out and Shapley values against games with known answers; Monte Carlo Shapley's standard
errors cover the exact values and it says whether its ranking settled."""

from __future__ import annotations

import pytest

from mycroft_fl.trainer.games import (
    Game,
    ValuationResult,
    exact_shapley,
    leave_one_out,
    shapley,
    tmc_shapley,
)


def glove_game() -> Game:
    """The glove game: L owns a left glove, R1 and R2 right gloves; a pair is worth 1.
    Known Shapley values: L = 2/3, R1 = R2 = 1/6."""

    def value(s):
        return float("L" in s and ("R1" in s or "R2" in s))

    return Game(["L", "R1", "R2"], value)


def additive_game(weights: dict[str, float]) -> Game:
    """v(S) = sum of the members' weights: every player's Shapley and LOO value is its own weight."""
    return Game(list(weights), lambda s: sum(weights[p] for p in s))


def test_exact_shapley_of_the_glove_game():
    values = exact_shapley(glove_game())
    assert values == pytest.approx({"L": 2 / 3, "R1": 1 / 6, "R2": 1 / 6}, abs=1e-12)


def test_shapley_values_add_up_to_the_grand_coalition():
    game = glove_game()
    assert sum(exact_shapley(game).values()) == pytest.approx(game.value(frozenset(game.players)))


def test_leave_one_out_of_the_glove_game_and_its_cost():
    game = glove_game()
    assert leave_one_out(game) == {
        "L": 1.0,
        "R1": 0.0,
        "R2": 0.0,
    }  # substitutes get nothing under LOO
    assert game.evaluations == 4  # everyone, then each one left out


def test_exact_shapley_evaluates_every_coalition_once():
    game = additive_game({f"p{i}": float(i) for i in range(5)})
    exact_shapley(game)
    assert game.evaluations == 2**5


def test_monte_carlo_recovers_an_additive_game():
    weights = {f"p{i}": float(i + 1) for i in range(12)}
    result = tmc_shapley(additive_game(weights), permutations=20, tolerance=0.0, seed=0)
    assert result.values == pytest.approx(weights)  # every order gives every player its own weight
    assert result.stderr == pytest.approx(dict.fromkeys(weights, 0.0))


def test_truncation_saves_evaluations_and_keeps_the_order():
    weights = {"big": 10.0, **{f"tiny{i}": 0.01 for i in range(11)}}
    full, truncated = additive_game(weights), additive_game(weights)
    a = tmc_shapley(full, permutations=30, tolerance=0.0, seed=1).values
    b = tmc_shapley(truncated, permutations=30, tolerance=0.02, seed=1).values
    assert truncated.evaluations < full.evaluations
    assert max(b, key=b.get) == max(a, key=a.get) == "big"


def test_shapley_switches_to_monte_carlo_beyond_the_exact_limit():
    game = additive_game({f"p{i}": 1.0 for i in range(11)})
    shapley(game, exact_up_to=10, permutations=5, tolerance=0.0)
    assert game.evaluations < 2**11


def apex_game(n: int) -> Game:
    """A weighted majority game: the apex player (weight n − 2) and n − 1 minor players (weight 1 each),
    quota n − 1: the apex wins with any minor player, the minor players only all together. Known
    Shapley values: apex (n − 2) / n, each minor player 2 / (n (n − 1))."""
    players = ["apex", *(f"m{i}" for i in range(n - 1))]

    def value(s):
        return float(sum(n - 2 if p == "apex" else 1 for p in s) >= n - 1)

    return Game(players, value)


def majority_game(n: int) -> Game:
    """The simple majority game: a coalition of more than half of the n players wins. Shapley: 1/n each."""
    return Game([f"p{i}" for i in range(n)], lambda s: float(len(s) > n / 2))


@pytest.mark.parametrize(
    "game, exact",
    [
        (glove_game(), {"L": 2 / 3, "R1": 1 / 6, "R2": 1 / 6}),
        (apex_game(6), {"apex": 4 / 6, **{f"m{i}": 2 / 30 for i in range(5)}}),
        (majority_game(11), {f"p{i}": 1 / 11 for i in range(11)}),
    ],
    ids=["glove", "apex", "majority"],
)
def test_monte_carlo_error_covers_the_exact_shapley_value(game, exact):
    result = tmc_shapley(game, permutations=200, tolerance=0.0, seed=0)
    assert isinstance(result, ValuationResult) and result.permutations <= 200
    for p, value in exact.items():
        assert result.stderr[p] > 0
        assert abs(result.values[p] - value) <= 3 * result.stderr[p], p


def test_monte_carlo_stops_once_the_ranking_stays_put():
    weights = {f"p{i}": float(i + 1) for i in range(12)}
    result = tmc_shapley(
        additive_game(weights), permutations=100, tolerance=0.0, check_every=10, seed=0
    )
    # checks after 10, 20, 30 orders: the ranking is the same at the 2nd and the 3rd
    assert result.converged and result.permutations == 30


def test_monte_carlo_reports_when_it_ran_out_of_orders():
    result = tmc_shapley(apex_game(12), permutations=15, tolerance=0.0, check_every=10, seed=0)
    assert not result.converged and result.permutations == 15  # one check only: nothing to compare
    # eleven interchangeable minor players: their ranking never settles at a strict threshold
    strict = tmc_shapley(apex_game(12), permutations=60, rank_correlation=1.0, seed=0)
    assert not strict.converged and strict.permutations == 60


def test_exact_shapley_has_no_sampling_error():
    result = shapley(glove_game(), exact_up_to=10)
    assert result.stderr is None and result.converged and result.permutations is None
    assert result.evaluations == 2**3


def test_players_valued_first_rank_above_the_others():
    result = ValuationResult({"a": 0.1, "b": 0.3, "c": 5.0, "d": -1.0}, first=("a", "b"))
    scores = result.ranking_scores()
    assert sorted(scores, key=scores.get, reverse=True) == ["b", "a", "c", "d"]
