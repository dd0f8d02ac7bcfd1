"""Strategy presets: found by name, overridable, or given as a file; bad ones are named."""

from pathlib import Path

import pytest

from mycroft_fl.core.errors import InputError
from mycroft_fl.owner.selectors import SELECTORS, Mycroft
from mycroft_fl.trainer.strategy_config import StrategyConfig, available_presets, load_strategy
from mycroft_fl.trainer.valuers import VALUERS, LeaveOneOut, Retrain, Shapley

STRATEGIES = Path(__file__).resolve().parent.parent / "strategies"
SHIPPED = sorted(p.stem for p in STRATEGIES.glob("*.toml"))


def test_the_documented_presets_ship():
    assert {"mycroft", "gradmatch", "retrieval", "random", "full-information"} <= set(SHIPPED)
    assert set(SHIPPED) <= set(available_presets())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_preset_loads_by_name(name):
    config = load_strategy(name)
    assert (
        config.name == name and config.selector.name in SELECTORS and config.valuer.name in VALUERS
    )
    assert isinstance(config.budget, int) and config.budget >= 1
    assert config.budgeted == (config.selector.name not in ("full-information", "all-data"))


def test_mycroft_preset_values():
    assert load_strategy("mycroft") == StrategyConfig(
        "mycroft", Mycroft(ridge=0.5, penalty=2.0, anchor="nearest"), Retrain(), budget=32
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_budget_override(name):
    assert load_strategy(name, budget=7).budget == 7
    assert load_strategy(name).budget != 7  # the preset itself is unchanged


def test_data_valuation_presets_and_their_parameters():
    assert load_strategy("loo").valuer == LeaveOneOut()
    assert load_strategy("shapley").valuer == Shapley(
        permutations=100, truncation=0.01, exact_up_to=10
    )
    for name in ("loo", "shapley"):
        assert not load_strategy(name).budgeted  # owners share all their data


def test_the_papers_anchor_from_a_file(tmp_path):
    path = tmp_path / "paper.toml"
    path.write_text('[selector]\nname = "mycroft"\nanchor = "geometric-median"\n')
    assert load_strategy(str(path)).selector.anchor == "geometric-median"
    assert load_strategy("mycroft").selector.anchor == "nearest"


def test_shapley_parameters_from_a_file(tmp_path):
    path = tmp_path / "quick-shapley.toml"
    path.write_text(
        '[selector]\nname = "all-data"\n[valuer]\nname = "shapley"\npermutations = 20\n'
        "truncation = 0.05\nexact_up_to = 0\n"
    )
    config = load_strategy(str(path))
    assert config.valuer == Shapley(permutations=20, truncation=0.05, exact_up_to=0)


def test_a_selector_and_a_valuer_combine_freely(tmp_path):
    path = tmp_path / "loo-over-mycroft.toml"
    path.write_text('budget = 8\n[selector]\nname = "mycroft"\n[valuer]\nname = "loo"\n')
    config = load_strategy(str(path))
    assert (config.selector, config.valuer, config.budget, config.budgeted) == (
        Mycroft(),
        LeaveOneOut(),
        8,
        True,
    )


def test_strategy_file_by_path(tmp_path, monkeypatch):
    path = tmp_path / "tight.toml"
    path.write_text(
        'description = "a tight Mycroft"\nbudget = 4\n[selector]\nname = "mycroft"\npenalty = 0.0\n'
    )
    monkeypatch.chdir(tmp_path)
    for given in (str(path), "tight.toml"):
        config = load_strategy(given)
        assert (config.name, config.budget, config.selector, config.valuer) == (
            "tight",
            4,
            Mycroft(penalty=0.0),
            Retrain(),
        )
    assert load_strategy(str(path), budget=9).budget == 9


def test_strategy_file_with_a_name(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "my-retrieval"\n[selector]\nname = "retrieval"\n')
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
    with pytest.raises(InputError, match="budget must be an integer >= 1"):
        load_strategy("mycroft", budget=budget)


M = '[selector]\nname = "mycroft"\n'
SH = '[selector]\nname = "all-data"\n[valuer]\nname = "shapley"\n'
BAD_FILES = {
    "invalid toml": ("[selector]\nname = mycroft\n", "not valid TOML"),
    "unknown key": (M + "budgte = 8\n", "unknown parameter 'budgte'"),
    "unknown top key": ("budgte = 8\n" + M, "unknown key 'budgte'"),
    "no selector": ("budget = 8\n", "[selector] is missing"),
    "selector without name": ("[selector]\nridge = 1\n", "[selector] needs a name"),
    "selector as text": ('selector = "mycroft"\n', "[selector] is missing or not a table"),
    "unknown selector": ('[selector]\nname = "banzhaf"\n', "unknown selector 'banzhaf'"),
    "unknown valuer": (M + '[valuer]\nname = "owen"\n', "unknown valuer 'owen'"),
    "zero budget": ("budget = 0\n" + M, "budget must be an integer >= 1"),
    "fractional budget": ("budget = 3.5\n" + M, "budget must be an integer >= 1"),
    "zero ridge": ('[selector]\nname = "gradmatch"\nridge = 0\n', "ridge must be a number > 0"),
    "negative ridge": (
        '[selector]\nname = "gradmatch"\nridge = -1\n',
        "ridge must be a number > 0",
    ),
    "text penalty": (M + 'penalty = "high"\n', "penalty must be a number >= 0"),
    "unknown anchor": (
        M + 'anchor = "centroid"\n',
        "anchor must be one of 'nearest', 'geometric-median'",
    ),
    "zero permutations": (SH + "permutations = 0\n", "permutations must be an integer >= 1"),
    "fractional permutations": (SH + "permutations = 2.5\n", "permutations must be an integer"),
    "truncation of one": (SH + "truncation = 1\n", "truncation must be a number in [0, 1)"),
    "negative truncation": (SH + "truncation = -0.1\n", "truncation must be a number in [0, 1)"),
    "exact for too many": (SH + "exact_up_to = 21\n", "exact_up_to must be an integer in [0, 20]"),
    "exact as text": (SH + 'exact_up_to = "all"\n', "exact_up_to must be an integer"),
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
    path.write_bytes(b"[selector]\nname = '\xff'\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_strategy(str(path))
