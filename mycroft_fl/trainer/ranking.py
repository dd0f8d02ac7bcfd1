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


def ndcg(scores: np.ndarray, reference: np.ndarray) -> float:
    """NDCG of ordering by `scores`, relevance = reference − min(reference); tied scores are averaged."""
    rel = np.asarray(reference, float) - np.min(reference)
    if not rel.any():
        return math.nan
    return float(ndcg_score(rel[None, :], np.asarray(scores, float)[None, :]))
