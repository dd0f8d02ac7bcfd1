"""`mycroft-fl compare` on a tiny configuration of the digits scenario: its table, JSON, plots, bad input."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from mycroft_fl.cli.main import main
from mycroft_fl.evaluation.comparison import compare
from mycroft_fl.evaluation.stats import Stat
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import acquire

TINY = ["--strategies", "mycroft,random", "--budgets", "8,4", "--seeds", "2", "--quiet"]
TIMINGS = {"wall_s", "fit_s", "valuation_s", "timings"}


def run_compare(out, *options: str) -> tuple[int, str]:
    """`mycroft-fl compare digits` in-process; its exit status and standard output."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["compare", "digits", *options, "--out", str(out)])
    return status, stdout.getvalue()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    status, stdout = run_compare(out, *TINY)
    assert status == 0
    return out, stdout, json.loads((out / "compare.json").read_text())


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def test_writes_the_table_and_the_plots(tiny):
    out, stdout, _ = tiny
    md = (out / "compare.md").read_text()
    for text in (stdout, md):
        assert (
            "share of full-info gain" in text
            and "Spearman" in text
            and "control (no owner data)" in text
        )
        assert "full-information" in text and "mycroft" in text and "random" in text
    assert "mycroft-fl compare digits --strategies mycroft,random" in md  # the command
    for png in ("accuracy_vs_budget.png", "ranking_mycroft.png", "ranking_random.png"):
        assert f"]({png})" in md
        data = (out / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_json_holds_every_run_in_range(tiny):
    _, _, doc = tiny
    settings = {k: doc["settings"][k] for k in ("strategies", "budgets", "seeds", "owners")}
    assert settings == {
        "strategies": ["mycroft", "random"],
        "budgets": [4, 8],
        "seeds": [0, 1],
        "owners": 5,
    }
    assert doc["settings"]["k"] == 3 and doc["settings"]["misleading"] == ["noisy"]
    runs = doc["runs"]
    assert sorted((r["strategy"], r["budget"] or 0, r["seed"]) for r in runs) == sorted(
        [("full-information", 0, s) for s in (0, 1)]
        + [(n, b, s) for n in ("mycroft", "random") for b in (4, 8) for s in (0, 1)]
    )
    for r in runs:
        for k in (
            "combined_hard_accuracy",
            "combined_test_accuracy",
            "owners_hard_accuracy",
            "top1",
        ):
            assert 0 <= r[k] <= 1, k
        assert -1 <= r["owners_utility"] <= 1 and math.isfinite(r["gain_fraction"])
        for k in ("spearman", "kendall_tau_b"):
            assert -1 - 1e-9 <= r[k] <= 1 + 1e-9, k
        assert r["exposed_total"] == sum(o["received"] for o in r["owners"].values())
        assert r["exposed_per_owner"] == pytest.approx(r["exposed_total"] / 5)
        if r["budget"] is not None:
            # its picks within the budget, and the random audit sample of 32 (TrainerConfig.audit)
            assert all(o["received"] <= r["budget"] + 32 for o in r["owners"].values())
        assert r["wall_s"] > 0
    for r in (r for r in runs if r["strategy"] == "full-information"):
        assert r["gain_fraction"] == pytest.approx(1.0)
        assert (
            r["spearman"] == pytest.approx(1.0)
            and r["kendall_tau_b"] == pytest.approx(1.0)
            and r["top1"] == 1
        )


def test_cost_and_exposure_columns_for_every_strategy(tiny):
    out, stdout, doc = tiny
    header = (out / "compare.md").read_text().split("| strategy |")[1].splitlines()[0]
    for column in ("samples sent", "sent per owner", "retrains", "valuation s", "wall s"):
        assert column in header and column in stdout
    for r in doc["runs"]:
        assert r["retrains"] >= 1 and r["valuation_s"] > 0


def test_data_valuation_baselines_run_once_per_seed_on_all_the_data(tmp_path):
    status, stdout = run_compare(
        tmp_path, "--strategies", "mycroft,loo", "--budgets", "4", "--seeds", "1", "--quiet"
    )
    assert status == 0
    doc = json.loads((tmp_path / "compare.json").read_text())
    runs = {r["strategy"]: r for r in doc["runs"]}
    assert sorted((r["strategy"], r["budget"]) for r in doc["runs"]) == [
        ("full-information", None),
        ("loo", None),
        ("mycroft", 4),
    ]
    loo, mycroft = runs["loo"], runs["mycroft"]
    assert loo["exposed_total"] == 5 * 120  # every sample of every owner
    assert mycroft["exposed_total"] <= 5 * (
        4 + 32
    )  # picks within the budget, plus the audit samples
    # alone, all, all but one, then the combined model unless it is one of those
    assert loo["retrains"] == 5 + 1 + 5 + int(len(loo["combined_owners"]) in (2, 3))
    assert loo["retrains"] > mycroft["retrains"]
    md = (tmp_path / "compare.md").read_text()
    assert (
        "| loo | all |" in md
        and "ranking_loo.png" in md
        and (tmp_path / "ranking_loo.png").is_file()
    )


def test_aggregates_are_the_mean_and_spread_over_seeds(tiny):
    _, _, doc = tiny
    assert [(a["strategy"], a["budget"]) for a in doc["aggregates"]] == [
        ("full-information", None),
        ("mycroft", 4),
        ("mycroft", 8),
        ("random", 4),
        ("random", 8),
    ]
    for agg in doc["aggregates"]:
        values = [
            r["combined_hard_accuracy"]
            for r in doc["runs"]
            if (r["strategy"], r["budget"]) == (agg["strategy"], agg["budget"])
        ]
        s = agg["combined_hard_accuracy"]
        assert s["n"] == 2 and s["mean"] == pytest.approx(sum(values) / 2)
        assert s["std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    assert doc["control"]["hard_accuracy"]["n"] == 2 and "gain_fraction" in doc["definitions"]


def test_evaluation_protocol_per_run(tiny):
    out, stdout, doc = tiny
    runs = doc["runs"]
    for r in runs:
        assert 0 <= r["precision_at_k"] <= 1 and 0 <= r["ndcg_at_k"] <= 1
        # the best 3 of the four honest owners; random draws 3 of all five
        assert r["random_regret_at_k"] >= 0 and -1 <= r["regret_at_k"] <= 1
        flagged = {o for o, v in r["owners"].items() if v["harmful"]}
        assert r["harm_recall"] == ("noisy" in flagged)
        assert r["harm_precision"] == (None if not flagged else ("noisy" in flagged) / len(flagged))
        assert r["test_minus_control"] == pytest.approx(
            r["combined_test_accuracy"] - doc["trainers"][r["seed"]]["test_accuracy"]
        )
    for seed in (0, 1):  # random's expected regret is the seed's, whatever the strategy
        assert len({r["random_regret_at_k"] for r in runs if r["seed"] == seed}) == 1
    for r in (r for r in runs if r["strategy"] == "full-information"):
        assert r["precision_at_k"] == 1 and r["ndcg_at_k"] == pytest.approx(1)
    aggs = {(a["strategy"], a["budget"]): a for a in doc["aggregates"]}
    for budget in (4, 8):
        diffs = [
            m["combined_hard_accuracy"] - r["combined_hard_accuracy"]
            for m in runs
            for r in runs
            if (m["strategy"], r["strategy"]) == ("mycroft", "random")
            and m["budget"] == r["budget"] == budget
            and m["seed"] == r["seed"]
        ]
        s = aggs[("mycroft", budget)]["minus_random"]
        assert s["mean"] == pytest.approx(sum(diffs) / 2) and s["lo"] <= s["mean"] <= s["hi"]
        assert aggs[("random", budget)]["minus_random"]["mean"] == 0
    assert aggs[("full-information", None)]["minus_random"]["n"] == 0
    assert doc["reference_agreement"]["n"] == 1  # one pair of seeds
    for text in (stdout, (out / "compare.md").read_text()):
        assert "regret@k" in text and "harm recall" in text and "hard acc - random's" in text


def test_bootstrap_interval_of_the_mean():
    s = Stat.of([0.1, 0.2, None, 0.6, math.nan])
    assert (s.mean, s.n) == (pytest.approx(0.3), 3)
    assert s.std == pytest.approx(math.sqrt(((0.2) ** 2 + 0.1**2 + 0.3**2) / 2))
    assert 0.1 <= s.lo < s.mean < s.hi <= 0.6
    assert Stat.of([0.5]) == Stat(0.5, None, 1, None, None)
    assert Stat.of([]) == Stat(None, None, 0, None, None)


def test_same_options_give_the_same_json(tiny, tmp_path):
    _, _, doc = tiny
    status, _ = run_compare(tmp_path, *TINY)
    assert status == 0
    assert without_timings(json.loads((tmp_path / "compare.json").read_text())) == without_timings(
        doc
    )


@pytest.mark.parametrize(
    "options, fragments",
    [
        (["--strategies", "mycroft,best-ever"], ["best-ever", "mycroft, random"]),
        (["--budgets", "8,x"], ["budgets", "'8,x'"]),
        (["--budgets", "8,0"], ["budgets", "positive"]),
        (["--budgets", "-4"], ["budgets"]),
        (["--seeds", "0"], ["--seeds", "must be >= 1"]),
    ],
)
def test_bad_input_is_one_line_and_status_2(options, fragments, tmp_path, capsys):
    try:
        status = main(["compare", "digits", *options, "--out", str(tmp_path / "out"), "--quiet"])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mycroft-fl: error:"), err
    assert all(f in lines[0] for f in fragments), lines[0]
    assert not (tmp_path / "out").exists()


def test_a_driver_runs_every_strategy_of_a_seed_on_its_trainer():
    calls = []

    def driver(trainer, owners, config, *, scenario, progress, behaviours):
        calls.append((trainer.seed, config.name, config.budget if config.budgeted else None))
        assert scenario == "digits" and behaviours.keys() == owners.keys()
        return acquire(
            trainer, owners, config, scenario=scenario, progress=progress, behaviours=behaviours
        )

    result = compare(load_scenario("digits"), ["random"], [4], 1, driver=driver)
    assert calls == [(0, "full-information", None), (0, "random", 4)]
    assert [(r.strategy, r.budget) for r in result.runs] == [
        ("full-information", None),
        ("random", 4),
    ]
