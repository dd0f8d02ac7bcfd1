"""Spending a budget over the hard classes, and listing picks so any prefix treats the classes alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mycroft_fl.core.params import as_count


def share_budget(
    counts: Mapping[int, int], budget: int, capacity: Mapping[int, int]
) -> dict[int, int]:
    """Share `budget` over the classes of `counts` in proportion to their counts, capped by `capacity`.

    Largest-remainder rounding, ties to the smaller class id. A class never gets more than `capacity[c]`
    (a missing class has capacity 0); what a capped class cannot use is shared over the others, again in
    proportion. The shares sum to min(budget, total usable capacity). Used so every method spends the
    budget on the hard classes the same way, weighted by how many hard samples each class has.
    """
    budget = as_count(budget, "budget", minimum=0)
    counts = {int(c): as_count(v, f"counts[{c}]", minimum=0) for c, v in counts.items()}
    capacity = {int(c): as_count(v, f"capacity[{c}]", minimum=0) for c, v in capacity.items()}
    shares = {c: 0 for c in counts}
    active = sorted(c for c in counts if counts[c] > 0 and capacity.get(c, 0) > 0)
    left = budget
    while active:  # water-filling: classes whose exact share reaches their capacity take all of it
        total = sum(counts[c] for c in active)
        capped = [c for c in active if left * counts[c] >= capacity[c] * total]
        if not capped:
            break
        for c in capped:
            shares[c] = capacity[c]
            left -= capacity[c]
        active = [c for c in active if c not in capped]
    if active:
        total = sum(counts[c] for c in active)
        for c in active:
            shares[c] = left * counts[c] // total
        spare = left - sum(shares[c] for c in active)
        for c in sorted(active, key=lambda c: (-(left * counts[c] % total), c))[:spare]:
            shares[c] += 1
    return shares


def interleave(groups: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate `groups` rank-major: the first item of every group, then the second of every group, ...

    Used wherever a list spans classes, so any prefix of it treats the classes alike.
    """
    if not groups:
        return np.empty(0, dtype=np.int64)
    ranks = np.concatenate([np.arange(len(g)) for g in groups])
    group = np.concatenate([np.full(len(g), i) for i, g in enumerate(groups)])
    return np.concatenate(groups).astype(np.int64)[np.lexsort((group, ranks))]
