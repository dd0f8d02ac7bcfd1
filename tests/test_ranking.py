"""Owner ranks, and rank-quality figures checked against hand-worked examples."""

import math

import numpy as np
import pytest

from mycroft_fl.trainer.ranking import (
    acquisition_regret,
    detection,
    ndcg,
    ndcg_at_k,
    precision_at_k,
    random_regret,
    rank_owners,
    rank_quality,
    top_k,
)

# --- rank_owners ---------------------------------------------------------------------------------


def test_ranks_follow_utility():
    assert rank_owners({"a": 0.1, "b": 0.4, "c": -0.2, "d": 0.3}) == {
        "b": 1,
        "d": 2,
        "a": 3,
        "c": 4,
    }


def test_harmful_owners_rank_below_all_others():
    ranks = rank_owners(
        {"a": 0.5, "b": 0.1, "c": -0.3, "d": 0.4}, harmful={"a": True, "d": True, "b": False}
    )
    # the unharmful ones first (even c with negative utility), then the harmful ones by utility
    assert ranks == {"b": 1, "c": 2, "a": 3, "d": 4}


def test_equal_utilities_are_ordered_by_tie_break():
    ranks = rank_owners(
        {"a": 0.2, "b": 0.2, "c": 0.2, "d": 0.5},
        tie_break={"a": 0.70, "b": 0.90, "c": 0.80, "d": 0.10},
    )
    assert ranks == {"d": 1, "b": 2, "c": 3, "a": 4}


def test_full_ties_share_a_rank():
    ranks = rank_owners(
        {"a": 0.3, "b": 0.1, "c": 0.1, "d": 0.0, "e": 0.1}, tie_break={"b": 0.8, "c": 0.8, "e": 0.7}
    )
    assert ranks == {"a": 1, "b": 2, "c": 2, "e": 4, "d": 5}
    assert rank_owners({"a": 0.0, "b": 0.0, "c": 0.0}) == {"a": 1, "b": 1, "c": 1}


def test_failed_owners_have_no_rank():
    ranks = rank_owners(
        {"ok": 0.1, "failed": None, "nan": math.nan, "low": -0.5}, harmful={"failed": True}
    )
    assert ranks == {"ok": 1, "low": 2, "failed": None, "nan": None}
    assert list(ranks) == ["ok", "failed", "nan", "low"]  # every owner reported, in the given order


def test_missing_or_nan_tie_break_counts_as_zero():
    ranks = rank_owners(
        {"a": 0.1, "b": 0.1, "c": 0.1}, tie_break={"a": math.nan, "b": None, "c": 0.5}
    )
    assert ranks == {"c": 1, "a": 2, "b": 2}


def test_no_owners():
    assert rank_owners({}) == {}


# --- rank_quality: hand-worked examples ----------------------------------------------------------


def test_rank_quality_with_ties_by_hand():
    # owner       a     b     c     d     e
    # scores     0.9   0.5   0.5   0.2   0.0      (b, c tied)
    # reference  0.3   0.6   0.1   0.1   0.0      (c, d tied)
    #
    # Spearman = Pearson correlation of average ranks.
    #   ranks(scores)    = a 5, b 3.5, c 3.5, d 2, e 1      deviations from 3: 2, .5, .5, -1, -2
    #   ranks(reference) = a 4, b 5,   c 2.5, d 2.5, e 1    deviations from 3: 1, 2, -.5, -.5, -2
    #   sum xy = 2 + 1 - .25 + .5 + 4 = 7.25;  sum x^2 = sum y^2 = 4 + .25 + .25 + 1 + 4 = 9.5
    #   rho = 7.25 / 9.5
    # Kendall tau-b over the 10 pairs:
    #   concordant ac ad ae bd be ce de = 7; discordant ab = 1; tied in scores only bc; in reference only cd
    #   tau_b = (7 - 1) / sqrt((10 - 1) * (10 - 1)) = 6 / 9
    # Top-1: scores put a first; a's reference 0.3 is not the best (b's 0.6) -> 0.
    # NDCG: relevance = reference - min = a .3, b .6, c .1, d .1, e 0; order a, {b, c}, d, e.
    #   Tied b, c share the mean gain (.6 + .1) / 2 = .35 over positions 2 and 3.
    #   DCG  = .3/log2(2) + .35 * (1/log2(3) + 1/log2(4)) + .1/log2(5) + 0
    #   IDCG = .6/log2(2) + .3/log2(3) + .1/log2(4) + .1/log2(5) + 0
    scores = {"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.2, "e": 0.0}
    reference = {"a": 0.3, "b": 0.6, "c": 0.1, "d": 0.1, "e": 0.0}
    log2 = math.log2
    dcg = 0.3 + 0.35 * (1 / log2(3) + 1 / log2(4)) + 0.1 / log2(5)
    idcg = 0.6 + 0.3 / log2(3) + 0.1 / log2(4) + 0.1 / log2(5)
    q = rank_quality(scores, reference)
    assert q["spearman"] == pytest.approx(7.25 / 9.5, abs=1e-9)
    assert q["kendall_tau_b"] == pytest.approx(6 / 9, abs=1e-9)
    assert q["top1"] == 0.0
    assert q["ndcg"] == pytest.approx(dcg / idcg, abs=1e-9)


def test_rank_quality_without_ties_by_hand():
    # owner       w     x     y     z
    # scores     0.4   0.1  -0.2   0.3
    # reference  0.5  -0.1   0.0   0.2
    # Spearman: ranks(scores) w4 x2 y1 z3, ranks(reference) w4 x1 y2 z3; d^2 = 0+1+1+0 = 2
    #   rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    # Kendall: pairs wx wy wz xz yz concordant (5), xy discordant (1): tau = (5 - 1) / 6
    # Top-1: w first in both -> 1.
    # NDCG: relevance = reference + 0.1 = w .6, x 0, y .1, z .3; order by scores w, z, x, y
    #   DCG  = .6 + .3/log2(3) + 0/log2(4) + .1/log2(5)
    #   IDCG = .6 + .3/log2(3) + .1/log2(4) + 0/log2(5)
    scores = {"w": 0.4, "x": 0.1, "y": -0.2, "z": 0.3}
    reference = {"w": 0.5, "x": -0.1, "y": 0.0, "z": 0.2}
    log2 = math.log2
    q = rank_quality(scores, reference)
    assert q["spearman"] == pytest.approx(0.8, abs=1e-9)
    assert q["kendall_tau_b"] == pytest.approx(4 / 6, abs=1e-9)
    assert q["top1"] == 1.0
    assert q["ndcg"] == pytest.approx(
        (0.6 + 0.3 / log2(3) + 0.1 / log2(5)) / (0.6 + 0.3 / log2(3) + 0.1 / log2(4)), abs=1e-9
    )


def test_perfect_and_reversed_agreement():
    reference = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0}
    same = rank_quality({k: 10 * v + 1 for k, v in reference.items()}, reference)
    assert same == {
        "spearman": pytest.approx(1.0),
        "kendall_tau_b": pytest.approx(1.0),
        "top1": 1.0,
        "ndcg": pytest.approx(1.0),
    }
    reverse = rank_quality({k: -v for k, v in reference.items()}, reference)
    assert reverse["spearman"] == pytest.approx(-1.0) and reverse["kendall_tau_b"] == pytest.approx(
        -1.0
    )
    assert reverse["top1"] == 0.0 and reverse["ndcg"] < 1.0


def test_top1_with_tied_firsts():
    # both a and b are put first; only counts if every one of them is a best owner of the reference
    assert rank_quality({"a": 1, "b": 1, "c": 0}, {"a": 2, "b": 2, "c": 0})["top1"] == 1.0
    assert rank_quality({"a": 1, "b": 1, "c": 0}, {"a": 2, "b": 1, "c": 0})["top1"] == 0.0


def test_only_owners_present_on_both_sides_count():
    scores = {"a": 0.3, "b": 0.2, "c": 0.1, "failed": None, "only-scores": 9.0}
    reference = {"a": 0.3, "b": 0.2, "c": 0.1, "failed": 0.5, "only-reference": -1.0}
    q = rank_quality(scores, reference)
    assert q["spearman"] == pytest.approx(1.0) and q["kendall_tau_b"] == pytest.approx(1.0)
    assert q["top1"] == 1.0 and q["ndcg"] == pytest.approx(1.0)


def test_constant_input_gives_nan_correlations():
    varied = {"a": 0.3, "b": 0.2, "c": 0.1}
    flat = {"a": 0.2, "b": 0.2, "c": 0.2}
    for q in (rank_quality(flat, varied), rank_quality(varied, flat)):
        assert math.isnan(q["spearman"]) and math.isnan(q["kendall_tau_b"])
    assert math.isnan(rank_quality(varied, flat)["ndcg"])  # no relevance to gain
    assert rank_quality(varied, flat)["top1"] == 1.0  # every owner is a best owner
    assert rank_quality(flat, varied)["top1"] == 0.0  # all put first, not all best


def test_fewer_than_two_owners_gives_nan():
    for scores, reference in [
        ({}, {}),
        ({"a": 1.0}, {"a": 2.0}),
        ({"a": 1.0, "b": None}, {"a": 1.0, "b": 2.0}),
    ]:
        assert all(math.isnan(v) for v in rank_quality(scores, reference).values())


def test_ndcg_directly():
    assert ndcg(np.array([3.0, 2.0, 1.0]), np.array([1.0, 0.5, 0.0])) == pytest.approx(1.0)
    assert math.isnan(ndcg(np.array([1.0, 2.0]), np.array([4.0, 4.0])))


def test_ndcg_of_the_ideal_order_is_at_most_one():
    # scikit-learn's ndcg_score gives 1.0000000000000002 for this ideal order (1.3.0 and 1.9.1)
    rel = np.array([0.5533502255485289, 0.25382491895669257, 0.0, 0.5863918351716705])
    rel = np.append(
        rel, [0.39025781745331467, 0.17514537053654444, 0.35073885380937786, 0.754391329326589]
    )
    assert ndcg(rel, rel) == 1.0
    owners = {f"o{i}": float(v) for i, v in enumerate(rel)}
    assert ndcg_at_k(owners, owners, 3) == 1.0 and ndcg_at_k(owners, owners, 8) == 1.0


# --- evaluation at k -----------------------------------------------------------------------------


def test_top_k_breaks_ties_by_id_and_skips_unscored_owners():
    assert top_k({"b": 0.5, "a": 0.5, "c": 0.9, "d": None, "e": math.nan}, 2) == ["c", "a"]


def test_precision_at_k_counts_the_shared_top_owners():
    reference = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    assert precision_at_k({"a": 1.0, "c": 0.9, "b": 0.1, "d": 0.0}, reference, 2) == 0.5
    assert precision_at_k({"b": 1.0, "a": 0.9, "c": 0.1, "d": 0.0}, reference, 2) == 1.0


def test_ndcg_at_k_by_hand():
    # relevance a 0, b 2, c 1; ordered a, b: DCG@2 = 0 + 2/log2(3); ideal b, c: 2 + 1/log2(3)
    reference = {"a": 1.0, "b": 3.0, "c": 2.0}
    expected = (2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k({"a": 3.0, "b": 2.0, "c": 1.0}, reference, 2) == pytest.approx(expected)
    assert ndcg_at_k({"b": 3.0, "c": 2.0, "a": 1.0}, reference, 2) == pytest.approx(1.0)


# Coalitions of two of four owners: d misleads (it buys hard accuracy that the others do not).
PAIRS = {
    frozenset("ab"): 0.50,
    frozenset("ac"): 0.40,
    frozenset("bc"): 0.30,
    frozenset("ad"): 0.70,
    frozenset("bd"): 0.20,
    frozenset("cd"): 0.10,
}


def test_acquisition_regret_by_hand():
    assert acquisition_regret(PAIRS, frozenset("bc")) == pytest.approx(0.70 - 0.30)
    # the best of the eligible owners is {a, b}; buying the misleading d can beat it (regret < 0)
    assert acquisition_regret(PAIRS, frozenset("bc"), set("abc")) == pytest.approx(0.50 - 0.30)
    assert acquisition_regret(PAIRS, frozenset("ad"), set("abc")) == pytest.approx(0.50 - 0.70)


def test_random_regret_is_the_best_minus_the_mean_of_every_draw():
    assert random_regret(PAIRS, 2, set("abc")) == pytest.approx(0.50 - 2.2 / 6)
    assert random_regret(PAIRS, 2) == pytest.approx(0.70 - 2.2 / 6)


def test_detection_precision_and_recall():
    assert detection({"a", "b"}, {"b", "c"}) == (0.5, 0.5)
    assert detection(set(), {"c"}) == (None, 0.0)
    assert detection({"a"}, set()) == (0.0, None)
