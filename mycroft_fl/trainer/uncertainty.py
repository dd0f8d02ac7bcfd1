"""How sure a measured utility is: a paired bootstrap over the held-out hard samples."""

from __future__ import annotations

import numpy as np

#: Bootstrap resamples: the interval's ends move by well under one held-out sample between seeds.
RESAMPLES = 2000


class PairedBootstrap:
    """Resamples of the held-out hard samples, drawn once per trainer and shared by every owner, so
    each owner's interval and every comparison between owners come from the same resamples.

    Parameters
    ----------
    n : int
        Number of held-out hard samples.
    seed : int
        Seed of the resamples.
    resamples : int
        How many resamples.
    """

    def __init__(self, n: int, *, seed: int = 0, resamples: int = RESAMPLES):
        rng = np.random.default_rng([seed, n, resamples])
        self.rows = rng.integers(0, n, size=(resamples, n)) if n else np.zeros((resamples, 0), int)

    def interval(
        self, control_correct: np.ndarray, correct: np.ndarray, *, level: float = 0.95
    ) -> tuple[float, float]:
        """Percentile interval of the accuracy gain `correct` − `control_correct` (per held-out hard
        sample, paired: both are right/wrong on the same samples).

        Returns
        -------
        tuple of float
            (low, high) at `level`; (nan, nan) with no held-out samples.
        """
        if self.rows.shape[1] == 0:
            return float("nan"), float("nan")
        gain = correct.astype(float) - control_correct.astype(float)
        means = gain[self.rows].mean(axis=1)
        tail = (1 - level) / 2
        low, high = np.quantile(means, [tail, 1 - tail])
        return float(low), float(high)


def overlapping(intervals: list[tuple[float, float]]) -> list[bool]:
    """For intervals listed in rank order, whether each one overlaps the next one's (the two owners'
    order is not settled by the data); False for the last."""
    return [a[0] <= b[1] and b[0] <= a[1] for a, b in zip(intervals, intervals[1:])] + [
        False
    ] * bool(intervals)
