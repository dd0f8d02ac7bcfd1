"""Leave-one-out and Shapley values against games with known answers."""

from __future__ import annotations

import pytest

from mycroft_fl.trainer.games import (
    Game,
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
    values = tmc_shapley(additive_game(weights), permutations=20, tolerance=0.0, seed=0)
    assert values == pytest.approx(weights)  # every order gives every player its own weight


def test_truncation_saves_evaluations_and_keeps_the_order():
    weights = {"big": 10.0, **{f"tiny{i}": 0.01 for i in range(11)}}
    full, truncated = additive_game(weights), additive_game(weights)
    a = tmc_shapley(full, permutations=30, tolerance=0.0, seed=1)
    b = tmc_shapley(truncated, permutations=30, tolerance=0.02, seed=1)
    assert truncated.evaluations < full.evaluations
    assert max(b, key=b.get) == max(a, key=a.get) == "big"


def test_shapley_switches_to_monte_carlo_beyond_the_exact_limit():
    game = additive_game({f"p{i}": 1.0 for i in range(11)})
    shapley(game, exact_up_to=10, permutations=5, tolerance=0.0)
    assert game.evaluations < 2**11
