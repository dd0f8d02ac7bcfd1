"""Statistics over seeds: mean, spread and a bootstrap interval of the mean, per figure."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

RESAMPLES = 2000  # bootstrap resamples of the seeds


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation, count and 95% bootstrap interval of the mean of some values."""

    mean: float | None
    std: float | None
    n: int
    lo: float | None
    hi: float | None

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Stat:
        """The statistics of the defined values (None and nan left out).

        Parameters
        ----------
        values
            One value per seed (or per pair of seeds).

        Returns
        -------
        Stat
            With mean None when no value is defined, std, lo and hi None with fewer than two.
        """
        xs = np.array([float(v) for v in values if v is not None and not math.isnan(v)])
        if len(xs) < 2:
            mean = float(xs[0]) if len(xs) else None
            return cls(mean, None, len(xs), None, None)
        rng = np.random.default_rng(0)
        means = xs[rng.integers(0, len(xs), (RESAMPLES, len(xs)))].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        return cls(float(xs.mean()), float(xs.std(ddof=1)), len(xs), float(lo), float(hi))


@dataclass(frozen=True)
class Aggregate:
    """The statistics over seeds of every figure of one strategy at one budget (None: not budgeted)."""

    strategy: str
    budget: int | None
    stats: dict[str, Stat]

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "budget": self.budget,
            **{k: asdict(v) for k, v in self.stats.items()},
        }
