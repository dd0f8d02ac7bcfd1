"""Feature-space retrieval: the owner's samples nearest to the trainer's hard samples, same label only."""

from __future__ import annotations

import numpy as np

from mycroft_fl.core.params import as_count, as_labels, as_matrix
from mycroft_fl.owner.budget import interleave


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows of `x` scaled to unit L2 norm, as float64 (all-zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.finfo(np.float64).tiny)


def select_retrieval(
    owner_embeddings: np.ndarray,
    owner_y: np.ndarray,
    hard_embeddings: np.ndarray,
    hard_y: np.ndarray,
    budget: int,
) -> np.ndarray:
    """Up to `budget` owner samples, each a nearest same-label neighbour of some hard sample.

    Embeddings are L2-normalised; nearness is Euclidean distance. Picks go round-robin over the hard
    samples: in each round every hard sample adds its nearest same-label owner sample not yet picked, so
    every hard sample that has a same-label candidate is covered once `budget` reaches their number. Hard
    samples are visited class-interleaved (first hard sample of each class in class order, then the second,
    ...), so a budget that runs out mid-round is spread over the classes. Distances are computed one class
    at a time (an owner may hold tens of thousands of samples). Returns unique owner indices (int64) in
    pick order; deterministic (distance ties go to the smaller index).
    """
    owner_e = as_matrix(owner_embeddings, "owner_embeddings")
    owner_labels = as_labels(owner_y, "owner_y", n=len(owner_e))
    hard_e = as_matrix(hard_embeddings, "hard_embeddings")
    hard_labels = as_labels(hard_y, "hard_y", n=len(hard_e))
    if hard_e.shape[1] != owner_e.shape[1]:
        raise ValueError(
            f"hard_embeddings has {hard_e.shape[1]} dimensions but owner_embeddings has {owner_e.shape[1]}"
        )
    budget = as_count(budget, "budget", minimum=1)
    hard_e = normalize_rows(hard_e)  # the owner's rows are normalised one class at a time

    ranked: dict[int, np.ndarray] = {}  # hard sample -> its same-label owner samples, nearest first
    groups = []
    for c in np.unique(hard_labels):
        candidates = np.flatnonzero(owner_labels == c)
        if not len(candidates):
            continue
        queries = np.flatnonzero(hard_labels == c)
        groups.append(queries)
        # on unit vectors, Euclidean distance falls as the dot product rises
        similarity = hard_e[queries] @ normalize_rows(owner_e[candidates]).T
        depth = min(budget, len(candidates))  # nobody walks deeper than the number of picks
        for q, row in zip(queries.tolist(), similarity):
            cutoff = row[np.argpartition(-row, depth - 1)[depth - 1]]
            near = np.flatnonzero(
                row >= cutoff
            )  # ascending, so the stable sort sends ties to the smaller index
            ranked[q] = candidates[near[np.argsort(-row[near], kind="stable")[:depth]]]

    picked = np.zeros(len(owner_labels), dtype=bool)
    cursor = dict.fromkeys(ranked, 0)
    picks: list[int] = []
    visit = interleave(groups)
    while len(picks) < budget:
        before = len(picks)
        for q in visit.tolist():
            neighbours, i = ranked[q], cursor[q]
            while i < len(neighbours) and picked[neighbours[i]]:
                i += 1
            cursor[q] = i + 1
            if i < len(neighbours):
                picked[neighbours[i]] = True
                picks.append(int(neighbours[i]))
                if len(picks) == budget:
                    break
        if len(picks) == before:
            break
    return np.asarray(picks, dtype=np.int64)
