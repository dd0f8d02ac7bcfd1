"""Whether an owner's data harms the trainer's task, with the evidence for the decision.

Two kinds of harm, each judged on data the owner never saw and did not help select:
- damage: the owner's subset makes the trainer's model worse on its held-out validation data — the
  samples its baseline already got right (never shown to owners) and the held-out hard ones together,
  apart from the test set, which stays for reporting — by more than their noise allows (a one-sided
  McNemar test on the paired right/wrong outcomes against the control: lost − gained > 3·√(lost +
  gained)). Honest data of the hard samples' classes in bulk can shift the model's class balance and
  cost some easy samples while fixing more hard ones; that net gain is not punished.
- mislabelled (or unrecognisable) data, judged at the owner level: an audit of randomly drawn
  samples of the owner's data (not its picks, which gradient matching chooses for being atypical)
  is voted on by the trainer's own labelled data. Clean labels of those classes reach a known
  agreement (calibrated on the trainer's data), labels flipped to another class a known lower one.
  An owner is mislabelled when its audit's agreement lies below clean labels' by more than chance
  allows (clean labels would agree as rarely with a probability below a 3-standard-deviation tail,
  as the McNemar test uses 3, by the exact binomial tail, which holds for the few rows one class of
  an audit may have) and below halfway between clean and wrong labels' (most of its labels wrong):
  significant and large. Inputs unlike anything of the
  trainer's (rotated, inverted images) fail the vote too. This holds whether or not the trainer
  names hard classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, norm

#: Standard deviations beyond which a paired change on held-out samples is more than noise.
Z = 3.0
#: One-sided 95%: the interval reported with an audit's estimated fraction of wrong labels.
AUDIT_Z = 1.645
#: The label voters (`LabelAudit.voter`, `Screen.voter`): the k nearest trainer samples, or a random forest.
NEIGHBOURS, FOREST = "nearest-neighbours", "random-forest"


@dataclass(frozen=True)
class PairedChange:
    """Test samples (of a mask) that the control got right and the candidate wrong (`lost`), and the reverse."""

    lost: int
    gained: int
    size: int

    @classmethod
    def of(
        cls, control_correct: np.ndarray, correct: np.ndarray, mask: np.ndarray | None = None
    ) -> PairedChange:
        """The change from `control_correct` to `correct` on the samples of `mask` (default: all)."""
        mask = np.ones_like(correct, dtype=bool) if mask is None else mask
        return cls(
            int(np.count_nonzero(control_correct & ~correct & mask)),
            int(np.count_nonzero(~control_correct & correct & mask)),
            int(np.count_nonzero(mask)),
        )

    @property
    def drop(self) -> float:
        """Net accuracy lost on the mask, as a fraction (negative: gained)."""
        return (self.lost - self.gained) / self.size if self.size else 0.0

    def loss_beyond_noise(self, z: float = Z) -> bool:
        return self.lost - self.gained > z * np.sqrt(self.lost + self.gained)

    def gain_beyond_noise(self, z: float = Z) -> bool:
        return self.gained - self.lost > z * np.sqrt(self.lost + self.gained)


@dataclass(frozen=True)
class LabelAudit:
    """The label vote on an owner's audit sample: `agreeing` of `n` labels match the trainer's data,
    where clean labels of the same classes agree at rate `clean` and wrong ones at rate `wrong`;
    `voter` names what voted (`Screen.voter`)."""

    agreeing: int
    n: int
    clean: float | None
    wrong: float | None
    voter: str = NEIGHBOURS

    @property
    def agreement(self) -> float | None:
        return self.agreeing / self.n if self.n else None

    def agreement_bounds(self, z: float = AUDIT_Z) -> tuple[float, float]:
        """Wilson score interval of the agreement rate (`z`: one-sided 95% by default)."""
        return wilson(self.agreeing, self.n, z)

    @property
    def midpoint(self) -> float | None:
        """Halfway between the agreement of clean and of wrong labels."""
        if self.clean is None or self.wrong is None or self.clean <= self.wrong:
            return None
        return (self.clean + self.wrong) / 2

    @property
    def mislabelled(self) -> bool:
        """Whether most of the owner's labels look wrong, beyond chance: below the midpoint, and
        clean labels would agree as rarely with a probability below the normal tail beyond `Z`."""
        if not self.n or self.midpoint is None:
            return False
        tail = binom.cdf(self.agreeing, self.n, self.clean)
        return self.agreement < self.midpoint and tail < norm.sf(Z)

    def wrong_fraction(self) -> tuple[float, float, float] | None:
        """The fraction of wrong labels the audit suggests, with its interval (clipped to [0, 1]):
        agreement = (1 - f) clean + f wrong, solved for f."""
        if self.midpoint is None or not self.n:
            return None
        low, high = self.agreement_bounds()

        def f(a: float) -> float:
            return float(np.clip((self.clean - a) / (self.clean - self.wrong), 0.0, 1.0))

        return f(self.agreement), f(high), f(low)

    def to_dict(self) -> dict:
        fraction = self.wrong_fraction()
        return {
            "samples": self.n,
            "agreement": self.agreement,
            "clean_agreement": self.clean,
            "wrong_labels": None if fraction is None else fraction[0],
            "wrong_labels_interval": None if fraction is None else [fraction[1], fraction[2]],
            "voter": self.voter,
        }


def wilson(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a binomial rate k / n at `z` standard deviations ((0, 1) when n is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def judge_harm(held_out: PairedChange, audit: LabelAudit | None) -> str | None:
    """Why the owner is harmful (one line; both reasons where both hold), or None when it is not.

    Parameters
    ----------
    held_out : PairedChange
        The subset's paired change against the control on the held-out validation samples (those the
        baseline got right and the held-out hard ones).
    audit : LabelAudit or None
        The label vote on a random sample of the owner's data (None: no audit, no label verdict).

    Returns
    -------
    str or None
        The reason, for report.json's `harm_reason`.
    """
    reasons = []
    if held_out.loss_beyond_noise():
        reasons.append(
            f"makes the model worse on {held_out.lost - held_out.gained} net of the trainer's "
            f"{held_out.size} held-out validation samples (lost {held_out.lost}, gained "
            f"{held_out.gained}; beyond noise at z = {Z:g})"
        )
    if audit is not None and audit.mislabelled:
        estimate, low, high = audit.wrong_fraction()
        reasons.append(
            f"its data contradicts the trainer's: {audit.agreeing} of {audit.n} randomly drawn samples get "
            f"their label from a {audit.voter} vote of the trainer's labelled data, where clean data of "
            "these classes "
            f"gets {audit.clean:.2f}: about {100 * estimate:.0f}% ({100 * low:.0f}-{100 * high:.0f}%) wrong "
            "labels, or inputs unlike the trainer's"
        )
    return "; ".join(reasons) or None
