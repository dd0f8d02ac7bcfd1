"""Owner ranks from utilities, and how well one ranking agrees with a reference ranking."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats
from sklearn.metrics import ndcg_score


def rank_owners(
    utilities: Mapping[str, float | None],
    harmful: Mapping[str, bool] | None = None,
    tie_break: Mapping[str, float | None] | None = None,
) -> dict[str, int | None]:
    """Rank 1 = most useful, by utility. Owners flagged harmful rank below all others; equal utilities
    are ordered by `tie_break` (higher first; the trainer uses test accuracy), and share a rank when
    that is equal too (1, 2, 2, 4). Owners without a utility (failed, rejected) get None."""
    harmful, tie_break = harmful or {}, tie_break or {}
    scored = {k: float(u) for k, u in utilities.items() if u is not None and not math.isnan(u)}

    def key(k: str) -> tuple:
        t = tie_break.get(k)
        return (bool(harmful.get(k)), -scored[k], 0.0 if t is None or math.isnan(t) else -float(t))

    keys = sorted(scored, key=key)
    ranks: dict[str, int | None] = {k: None for k in utilities}
    for pos, k in enumerate(keys):
        prev = keys[pos - 1] if pos else None
        ranks[k] = ranks[prev] if prev is not None and key(prev) == key(k) else pos + 1
    return ranks


def _paired(
    scores: Mapping[str, float | None], reference: Mapping[str, float | None]
) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(
        k for k in scores if k in reference and scores[k] is not None and reference[k] is not None
    )
    return np.array([scores[k] for k in keys], float), np.array([reference[k] for k in keys], float)


def rank_quality(
    scores: Mapping[str, float | None], reference: Mapping[str, float | None]
) -> dict[str, float]:
    """Agreement of owner `scores` with `reference` scores (higher = better in both), over the owners
    both have: Spearman, Kendall tau-b, top-1 agreement (every owner `scores` puts first is a best
    owner of `reference`) and NDCG. A correlation is nan when either side is constant."""
    a, b = _paired(scores, reference)
    if len(a) < 2:
        return {"spearman": math.nan, "kendall_tau_b": math.nan, "top1": math.nan, "ndcg": math.nan}
    constant = np.ptp(a) == 0 or np.ptp(b) == 0
    return {
        "spearman": math.nan if constant else float(stats.spearmanr(a, b).statistic),
        "kendall_tau_b": math.nan
        if constant
        else float(stats.kendalltau(a, b, variant="b").statistic),
        "top1": float(b[a == a.max()].min() == b.max()),
        "ndcg": ndcg(a, b),
    }


def ndcg(scores: np.ndarray, reference: np.ndarray, k: int | None = None) -> float:
    """NDCG (of the first `k` places; all when None) of ordering by `scores`, relevance =
    reference − min(reference); tied scores are averaged. nan when the reference is constant."""
    rel = np.asarray(reference, float) - np.min(reference)
    if not rel.any():
        return math.nan
    # scikit-learn's ndcg_score can pass 1 by a rounding step (1.0000000000000002 for an ideal order,
    # 1.3.0 and 1.9.1 alike): NDCG is at most 1
    return min(1.0, float(ndcg_score(rel[None, :], np.asarray(scores, float)[None, :], k=k)))


def top_k(scores: Mapping[str, float | None], k: int) -> list[str]:
    """The `k` owners with the highest scores (ties broken by id); owners without a score left out."""
    scored = [o for o, s in scores.items() if s is not None and not math.isnan(s)]
    return sorted(scored, key=lambda o: (-float(scores[o]), o))[:k]


def precision_at_k(
    scores: Mapping[str, float | None], reference: Mapping[str, float | None], k: int
) -> float:
    """Share of the `k` owners `scores` ranks first that are among `reference`'s first `k` (`top_k`)."""
    return len(set(top_k(scores, k)) & set(top_k(reference, k))) / k


def ndcg_at_k(
    scores: Mapping[str, float | None], reference: Mapping[str, float | None], k: int
) -> float:
    """NDCG@k of ordering the owners both have by `scores`, relevance = reference − its minimum."""
    a, b = _paired(scores, reference)
    return math.nan if len(a) < 2 else ndcg(a, b, k)


def acquisition_regret(
    values: Mapping[frozenset[str], float],
    chosen: frozenset[str],
    eligible: set[str] | None = None,
) -> float:
    """What buying `chosen` loses against the best coalition of as many owners.

    Parameters
    ----------
    values
        Value of each coalition of owners (e.g. held-out hard-accuracy gain with their data together).
    chosen
        The coalition bought; a key of `values`.
    eligible
        The owners the best coalition may hold (default: any); `chosen` may hold others.

    Returns
    -------
    float
        The best value of a coalition of `len(chosen)` eligible owners minus the value of `chosen`;
        negative when `chosen` gains more with owners outside `eligible`.
    """
    return _best(values, len(chosen), eligible) - values[chosen]


def random_regret(
    values: Mapping[frozenset[str], float], k: int, eligible: set[str] | None = None
) -> float:
    """The expected `acquisition_regret` of `k` owners drawn uniformly at random: the best value of
    `k` eligible owners minus the mean over every coalition of `k` owners in `values` (all of them)."""
    return _best(values, k, eligible) - float(
        np.mean([v for c, v in values.items() if len(c) == k])
    )


def _best(values: Mapping[frozenset[str], float], k: int, eligible: set[str] | None) -> float:
    return max(v for c, v in values.items() if len(c) == k and (eligible is None or c <= eligible))


def detection(flagged: set[str], truth: set[str]) -> tuple[float | None, float | None]:
    """Precision and recall of `flagged` as a detector of `truth`; None where undefined (nothing
    flagged, nothing to find)."""
    hits = len(flagged & truth)
    return (hits / len(flagged) if flagged else None, hits / len(truth) if truth else None)
