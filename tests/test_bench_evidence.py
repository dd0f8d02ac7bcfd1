"""The evidence benchmark (scripts/bench_evidence.py) in a reduced version: digits and its variant whose
trainer names no hard classes, two seeds, one budget; its BENCHMARKS.md section sets every figure of
the evaluation protocol beside its target."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_evidence  # noqa: E402


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    out = tmp_path_factory.mktemp("evidence")
    named = bench_evidence.run_scenario("digits", 2, (6,), out, docs=False)
    variant = bench_evidence.run_scenario(
        "digits", 2, (6,), out, docs=False, all_classes=True, valuation=False
    )
    return named, variant, bench_evidence.section(out, None)


def test_both_variants_run_with_the_baselines_where_cheap(section):
    named, variant, _ = section
    assert named["scenario"] == "digits" and variant["scenario"] == "digits-all-classes"
    assert variant["evidence"]["all_classes"] and variant["evidence"]["hard_classes"] is None
    runs = {(r["strategy"], r["seed"]) for r in named["runs"]}
    assert runs == {
        (s, seed)
        for s in ("full-information", "mycroft", "random", "loo", "shapley")
        for seed in (0, 1)
    }
    assert {r["strategy"] for r in variant["runs"]} == {"full-information", "mycroft", "random"}
    aggs = {a["strategy"]: a for a in named["aggregates"]}
    assert aggs["shapley"]["retrains"]["mean"] == 2**5 - 1  # every non-empty coalition
    assert aggs["mycroft"]["precision_at_k_shapley"]["n"] == 2


def test_the_section_sets_the_protocol_beside_its_targets(section):
    _, _, text = section
    assert text.startswith("## Evidence on real data")
    assert text.count("| `digits` | yes [8, 9] | 2 | 6 (5%) |") == 1
    assert text.count("| `digits-all-classes` | no (every class) | 2 | 6 (5%) |") == 1
    for words in ("regret@3", "harm recall", "Mycroft − random, pts [95% CI]", "label_noise ≥ 0.5"):
        assert words in text
    assert "**MET**" in text or "**MISSED**" in text
    assert "| noisy † |" in text  # the misleading owner marked in the per-owner table


def test_bench_evidence_knows_which_scenarios_have_a_separate_variant():
    assert bench_evidence.names_hard_classes("digits")
    assert not bench_evidence.names_hard_classes("credit")  # names none
    assert not bench_evidence.names_hard_classes("spurious")  # names both of its two classes
