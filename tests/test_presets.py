"""Strategy presets: found by name, overridable, or given as a file; bad ones are named."""

from pathlib import Path

import pytest

from mycroft_fl.core.errors import InputError
from mycroft_fl.owner.selectors import METHODS
from mycroft_fl.scenarios.presets import (
    StrategyConfig,
    available_presets,
    load_strategy,
)

STRATEGIES = Path(__file__).resolve().parent.parent / "strategies"
SHIPPED = sorted(p.stem for p in STRATEGIES.glob("*.toml"))


def test_the_documented_presets_ship():
    assert {"mycroft", "gradmatch", "retrieval", "random", "full-information"} <= set(SHIPPED)
    assert set(SHIPPED) <= set(available_presets())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_preset_loads_by_name(name):
    config = load_strategy(name)
    assert config.name == name and config.method in METHODS
    assert isinstance(config.budget, int) and config.budget >= 1
    assert config.budgeted == (config.method not in ("full-information", "loo", "shapley"))


def test_mycroft_preset_values():
    assert load_strategy("mycroft") == StrategyConfig("mycroft", "mycroft", budget=32, ridge=0.5, penalty=2.0)


@pytest.mark.parametrize("name", SHIPPED)
def test_budget_override(name):
    assert load_strategy(name, budget=7).budget == 7
    assert load_strategy(name).budget != 7  # the preset itself is unchanged


def test_data_valuation_presets_and_their_parameters():
    assert load_strategy("loo") == StrategyConfig("loo", "loo")
    assert load_strategy("shapley") == StrategyConfig("shapley", "shapley", permutations=100, truncation=0.01,
                                                      exact_up_to=10)
    for name in ("loo", "shapley"):
        assert not load_strategy(name).budgeted  # owners share all their data


def test_the_papers_anchor_from_a_file(tmp_path):
    path = tmp_path / "paper.toml"
    path.write_text('method = "mycroft"\nanchor = "geometric-median"\n')
    assert load_strategy(str(path)).anchor == "geometric-median"
    assert load_strategy("mycroft").anchor == "nearest"


def test_shapley_parameters_from_a_file(tmp_path):
    path = tmp_path / "quick-shapley.toml"
    path.write_text('method = "shapley"\npermutations = 20\ntruncation = 0.05\nexact_up_to = 0\n')
    config = load_strategy(str(path))
    assert (config.permutations, config.truncation, config.exact_up_to) == (20, 0.05, 0)


def test_strategy_file_by_path(tmp_path, monkeypatch):
    path = tmp_path / "tight.toml"
    path.write_text('description = "a tight Mycroft"\nmethod = "mycroft"\nbudget = 4\npenalty = 0.0\n')
    monkeypatch.chdir(tmp_path)
    for given in (str(path), "tight.toml"):
        config = load_strategy(given)
        assert (config.name, config.method, config.budget, config.penalty, config.ridge) == ("tight", "mycroft", 4, 0.0, 0.5)
    assert load_strategy(str(path), budget=9).budget == 9


def test_strategy_file_with_a_name(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "my-retrieval"\nmethod = "retrieval"\n')
    assert load_strategy(str(path)).name == "my-retrieval"


def test_unknown_name_lists_the_presets():
    with pytest.raises(InputError) as info:
        load_strategy("mycroft-pro")
    message = str(info.value)
    assert "unknown strategy 'mycroft-pro'" in message
    assert all(name in message for name in SHIPPED)


def test_missing_strategy_file(tmp_path):
    with pytest.raises(InputError, match="no such strategy file"):
        load_strategy(str(tmp_path / "absent.toml"))


@pytest.mark.parametrize("budget", [0, -3, 2.5, "8", True])
def test_bad_budget_override(budget):
    with pytest.raises(InputError, match="budget must be a positive integer"):
        load_strategy("mycroft", budget=budget)


BAD_FILES = {
    "invalid toml": ("method = mycroft\n", "not valid TOML"),
    "unknown key": ('method = "mycroft"\nbudgte = 8\n', "unknown key 'budgte'"),
    "no method": ("budget = 8\n", "missing key 'method'"),
    "unknown method": ('method = "banzhaf"\n', "unknown method 'banzhaf'"),
    "zero budget": ('method = "random"\nbudget = 0\n', "budget must be a positive integer"),
    "fractional budget": ('method = "random"\nbudget = 3.5\n', "budget must be a positive integer"),
    "negative ridge": ('method = "gradmatch"\nridge = -1\n', "ridge must be a number >= 0"),
    "text penalty": ('method = "mycroft"\npenalty = "high"\n', "penalty must be a number >= 0"),
    "unknown anchor": ('method = "mycroft"\nanchor = "centroid"\n', "anchor must be one of nearest, geometric-median"),
    "zero permutations": ('method = "shapley"\npermutations = 0\n', "permutations must be an integer >= 1"),
    "fractional permutations": ('method = "shapley"\npermutations = 2.5\n', "permutations must be an integer"),
    "truncation of one": ('method = "shapley"\ntruncation = 1\n', "truncation must be a number in [0, 1)"),
    "negative truncation": ('method = "shapley"\ntruncation = -0.1\n', "truncation must be a number in [0, 1)"),
    "exact for too many": ('method = "shapley"\nexact_up_to = 21\n', "exact_up_to must be an integer in 0..20"),
    "exact as text": ('method = "shapley"\nexact_up_to = "all"\n', "exact_up_to must be an integer"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_strategy_file_names_file_and_problem(tmp_path, case):
    text, words = BAD_FILES[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_strategy(str(path))
    message = str(info.value)
    assert str(path) in message and words in message and "\n" not in message


def test_non_utf8_file(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"method = '\xff'\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_strategy(str(path))
