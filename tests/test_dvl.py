"""pyDVL's baselines as valuers over owners (extra mycroft-fl[dvl]): their strategy files parse
without pyDVL; on tiny games (no training) MSR-Banzhaf and pyDVL's TMC Shapley give the known values
and Data-OOB finds the owner with flipped labels; through the engine on digits the valuers run,
count their retrains and rank as their methods do."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import Classifier
from mycroft_fl.trainer.games import Game, exact_shapley
from mycroft_fl.trainer.report import schema_problem
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.valuers import Banzhaf, DataOOB, TMCShapley, make_valuer

DVL_PRESETS = {"data-oob": DataOOB, "banzhaf": Banzhaf, "tmc-shapley": TMCShapley}


@pytest.mark.parametrize("name", sorted(DVL_PRESETS))
def test_a_strategy_file_naming_a_pydvl_valuer_parses(name, tmp_path):
    assert isinstance(load_strategy(name).valuer, DVL_PRESETS[name])
    path = tmp_path / "mine.toml"
    path.write_text(f'[selector]\nname = "all-data"\n[valuer]\nname = "{name}"\n')
    assert load_strategy(str(path)).valuer == DVL_PRESETS[name]()


def test_bad_parameters_of_the_pydvl_valuers_name_themselves():
    with pytest.raises(InputError, match="bags"):
        make_valuer("data-oob", bags=1)
    with pytest.raises(InputError, match="samples"):
        make_valuer("banzhaf", samples=0)
    with pytest.raises(InputError, match="truncation"):
        make_valuer("banzhaf", truncation=0.1)  # only tmc-shapley truncates


def test_without_pydvl_valuing_says_to_install_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydvl", None)
    monkeypatch.delitem(sys.modules, "mycroft_fl.trainer.dvl", raising=False)
    with pytest.raises(InputError, match=r"pip install 'mycroft-fl\[dvl\]'"):
        importlib.import_module("mycroft_fl.trainer.dvl")


WEIGHTS = {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.0, "e": -0.2}


def additive(coalition: frozenset[str]) -> float:
    return sum(WEIGHTS[p] for p in coalition)


def tiny_subsets(players) -> dict[str, Dataset]:
    rng = np.random.default_rng(0)
    return {p: Dataset(rng.random((3, 2), dtype=np.float32), np.array([0, 1, 0])) for p in players}


@pytest.fixture(scope="module")
def dvl():
    pytest.importorskip("pydvl")
    from mycroft_fl.trainer import dvl

    return dvl


def test_pydvl_tmc_shapley_of_an_additive_game_is_its_weights(dvl):
    players = list(WEIGHTS)
    game = Game(players, additive)
    r = dvl.semivalue(
        game,
        dvl.grouped(tiny_subsets(players), players),
        method="tmc",
        samples=60,
        rank_rtol=0.001,
        burn_in=10,
        seed=1,
    )
    assert r.values == pytest.approx(WEIGHTS, abs=1e-9)
    assert game.evaluations <= 2 ** len(players) and r.permutations <= 60


def test_msr_banzhaf_estimates_the_banzhaf_values_within_their_standard_errors(dvl):
    # Banzhaf value of a: its weight plus half the a-b interaction (b is in half the coalitions)
    def value(s: frozenset[str]) -> float:
        return additive(s) + (0.2 if {"a", "b"} <= s else 0.0)

    players = list(WEIGHTS)
    banzhaf = {**WEIGHTS, "a": 0.6, "b": 0.4}
    game = Game(players, value)
    r = dvl.semivalue(
        game,
        dvl.grouped(tiny_subsets(players), players),
        method="banzhaf",
        samples=400,
        rank_rtol=0.0,
        burn_in=10_000,
        seed=0,
    )
    assert not r.converged and game.evaluations <= 32  # ran all 400 samples
    for p in players:
        assert abs(r.values[p] - banzhaf[p]) <= 4 * r.stderr[p], p
    assert max(r.values, key=r.values.get) == "a" and min(r.values, key=r.values.get) == "e"


def test_pydvl_tmc_shapley_matches_exact_shapley_with_interactions(dvl):
    def value(s: frozenset[str]) -> float:
        return additive(s) + (0.2 if {"a", "b"} <= s else 0.0) - (0.1 if {"c", "e"} <= s else 0.0)

    players = list(WEIGHTS)
    exact = exact_shapley(Game(players, value))
    r = dvl.semivalue(
        Game(players, value),
        dvl.grouped(tiny_subsets(players), players),
        method="tmc",
        samples=400,
        rank_rtol=0.0,  # run every order
        burn_in=10_000,
        seed=0,
    )
    assert r.permutations == 400 and not r.converged
    for p in players:
        assert abs(r.values[p] - exact[p]) <= max(4 * r.stderr[p], 1e-9), p


def test_an_owner_without_points_gets_nothing(dvl):
    players = ["a", "b", "z"]
    subsets = tiny_subsets(players)
    subsets["z"] = Dataset(np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    r = dvl.semivalue(
        Game(players, lambda s: additive(s - {"z"})),
        dvl.grouped(subsets, players),
        method="tmc",
        samples=40,
        rank_rtol=0.001,
        burn_in=5,
    )
    assert r.values["z"] == 0.0 and r.values["a"] == pytest.approx(0.5)


def centroid_classifier(data: Dataset) -> Classifier:
    """A linear nearest-centroid classifier of two classes fitted on `data` (stands for a trainer)."""
    means = np.stack([data.x[data.y == c].mean(axis=0) for c in (0, 1)])
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(means))
        head.bias.copy_(torch.from_numpy(-0.5 * (means**2).sum(axis=1)))
    return Classifier(nn.Identity(), head)


def test_data_oob_finds_the_owner_with_flipped_labels(dvl):
    rng = np.random.default_rng(0)

    def owner(n: int, flip: bool) -> Dataset:
        y = rng.integers(0, 2, n)
        x = (rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 1, 2.0, -2.0)).astype(
            np.float32
        )
        return Dataset(x, 1 - y if flip else y)

    subsets = {
        "clean": owner(40, False),
        "also-clean": owner(40, False),
        "flipped": owner(40, True),
    }
    fitted = []
    r = dvl.data_oob(
        subsets,
        centroid_classifier,
        bags=12,
        seed=0,
        progress=fitted.append,
    )
    assert fitted == list(range(1, 13))
    assert r.values["clean"] > 30 and r.values["also-clean"] > 30 and r.values["flipped"] < 5
    assert r.values == dvl.data_oob(subsets, centroid_classifier, bags=12, seed=0).values


@pytest.fixture(scope="module")
def digits_reports():
    pytest.importorskip("pydvl")
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.in_process import acquire
    from mycroft_fl.trainer.trainer import Trainer

    torch.set_num_threads(1)
    scenario = load_scenario("digits")
    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=0)
    owners = scenario.owners_data()
    return {name: acquire(trainer, owners, load_strategy(name)) for name in ("data-oob", "banzhaf")}


def test_the_pydvl_valuers_run_through_the_engine_and_count_their_retrains(digits_reports):
    oob, banzhaf = digits_reports["data-oob"], digits_reports["banzhaf"]
    n = len(oob.owners)
    # Data-OOB: one retrain per owner alone, the bags, the combined model
    assert 32 + n <= oob.valuation["retrains"] <= 32 + n + 1
    assert banzhaf.valuation["retrains"] <= 2**n + 1
    ranks = {name: {o.id: o.rank for o in r.owners} for name, r in digits_reports.items()}
    # the owner with 80% flipped labels is last by both; Banzhaf puts the specialist first
    assert ranks["data-oob"]["noisy"] == ranks["banzhaf"]["noisy"] == n
    assert ranks["banzhaf"]["specialist"] == 1
    for report in digits_reports.values():  # report.json's schema holds their valuation
        assert schema_problem(report.to_dict()) is None


def _baselines_benchmark():
    """benchmarks/baselines.py, the package found by its path (pytest does not put the root on sys.path)."""
    root = Path(__file__).resolve().parent.parent
    if "benchmarks" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "benchmarks", root / "benchmarks" / "__init__.py"
        )
        sys.modules["benchmarks"] = package = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(package)
    return importlib.import_module("benchmarks.baselines")


def test_noisy_owner_detection_flags_the_lower_of_two_means_groups():
    b = _baselines_benchmark()
    values = {"a": 100.0, "b": 104.0, "c": 98.0, "noisy": 20.0, "half": 80.0}
    assert b.two_means_low(values) == {"noisy"}
    assert b.detection_f1(values, ["noisy"]) == 1.0
    assert b.detection_f1(values, ["noisy", "half"]) == pytest.approx(2 / 3)
    assert b.detection_f1(values, ["gone"]) is None  # no valued owner is noisy
    assert b.two_means_low(dict.fromkeys("abc", 1.0)) == set()
    assert b.random_f1(values, ["noisy"]) == pytest.approx(0.2 / 0.7)


def test_baselines_budgets_are_five_percent_of_an_owner_on_every_scenario():
    b = _baselines_benchmark()
    budgets = {name: b.budget_of(name) for name in b.SCENARIOS}
    assert budgets == {
        "digits": 6,  # owners of 120
        "hostile": 16,  # the attacks benchmark's
        "credit": 12,  # 240
        "diamonds": 20,  # 400
        "spurious": 32,  # 640
        "fashion": 40,  # 800
        "clinics": 6,  # digits' owners as files
    }
    with pytest.raises(SystemExit, match="unknown scenario 'nope'"):
        b.budget_of("nope")
