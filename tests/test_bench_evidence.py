"""The evidence benchmark (scripts/bench_evidence.py) in a reduced version: digits, two seeds, one budget,
the data-valuation baselines on the first seed only; its BENCHMARKS.md section states the targets and the
cost and exposure of every strategy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_evidence  # noqa: E402


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    out = tmp_path_factory.mktemp("evidence")
    doc = bench_evidence.run_scenario("digits", 2, (4,), out, docs=False, valuation_seeds=1)
    return doc, bench_evidence.section(out, None)


def test_the_baselines_run_on_the_same_trainers_of_their_seeds_only(section):
    doc, _ = section
    runs = {(r["strategy"], r["seed"]) for r in doc["runs"]}
    assert runs == {
        (s, seed)
        for s in ("full-information", "mycroft", "gradmatch", "retrieval", "random")
        for seed in (0, 1)
    } | {("loo", 0), ("shapley", 0)}
    aggs = {a["strategy"]: a for a in doc["aggregates"]}
    assert aggs["shapley"]["retrains"]["n"] == 1 and aggs["mycroft"]["retrains"]["n"] == 2
    assert (
        aggs["shapley"]["retrains"]["mean"] == 2**5 - 1
    )  # every non-empty coalition, the combined one among them
    assert (
        aggs["shapley"]["exposed_total"]["mean"]
        == 5 * 120
        > aggs["mycroft"]["exposed_total"]["mean"]
    )


def test_the_section_states_targets_cost_and_exposure(section):
    _, text = section
    assert text.startswith("## Evidence on real data")
    assert (
        "| retrains | valuation s |" in text
        and "| loo | all |" in text
        and "| shapley | all |" in text
    )
    assert "Mycroft share of full-info gain (≥ 90%)" in text and (
        "**MET**" in text or "**MISSED**" in text
    )
    assert "`shapley` run on the first 1 of the 2 seeds only" in text
