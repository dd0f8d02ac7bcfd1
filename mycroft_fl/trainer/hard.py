"""The trainer's hard samples: validation samples its baseline gets wrong, split into a query part
(shown to owners) and an eval part (held out; every utility figure is measured there)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError


@dataclass(frozen=True)
class HardSplit:
    """Indices into the validation set of the hard samples shown to owners (`query`) and held out (`eval`)."""

    query: np.ndarray
    eval: np.ndarray

    def classes(self, val: Dataset) -> list[int]:
        return sorted(int(c) for c in np.unique(val.y[self.query]))


def split_hard_samples(
    val: Dataset,
    predicted: np.ndarray,
    *,
    classes: Sequence[int] | None = None,
    query_fraction: float = 0.5,
    seed: int = 0,
) -> HardSplit:
    """Split the misclassified validation samples per class into query and eval parts.

    Per class with n hard samples, round(n * query_fraction) go to the query part, but at least one
    to each part when n >= 2 (a single hard sample goes to the query part, so owners see the class).
    `classes` restricts the hard samples to those true labels.
    """
    if not 0 < query_fraction < 1:
        raise InputError(f"query_fraction must be in (0, 1), got {query_fraction}")
    wrong = predicted != val.y
    if classes is not None:
        wrong &= np.isin(val.y, np.asarray(list(classes), dtype=np.int64))
    rng = np.random.default_rng(seed)
    query, held = [], []
    for c in np.unique(val.y[wrong]):
        idx = rng.permutation(np.flatnonzero(wrong & (val.y == c)))
        n_query = (
            len(idx)
            if len(idx) == 1
            else min(max(1, round(len(idx) * query_fraction)), len(idx) - 1)
        )
        query.append(idx[:n_query])
        held.append(idx[n_query:])
    if not query:
        raise InputError(
            "the baseline makes no mistakes on the validation set"
            + (f" in classes {list(classes)}" if classes is not None else "")
            + ": no hard samples"
        )
    return HardSplit(np.sort(np.concatenate(query)), np.sort(np.concatenate(held)))
