"""Whether an owner's data harms the rest of the trainer's task, judged from paired test outcomes.

Two kinds of harm, each from figures the report carries per owner:
- damage: the subset lowers accuracy on the test samples outside the hard classes by more than the test
  set's noise allows (a one-sided McNemar test on the paired right/wrong outcomes against the control),
  and does not buy it back with a net gain on the whole test set beyond noise. Honest data of the hard
  classes in bulk can shift the model's class balance and cost the other classes some accuracy while
  raising it overall; that trade is reported (`other_accuracy_drop`), not punished.
- implausible labels: most received labels contradict the trainer's own labelled data (the agreement is
  below halfway between what clean labels of those classes reach and what wrong ones would), and the
  subset lowers accuracy outside the hard classes at all. This is the label-flipping attack: labels of
  the hard classes on other classes' samples buy hard-sample accuracy by breaking the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Standard deviations beyond which a paired change on the test set is more than noise.
Z = 3.0


@dataclass(frozen=True)
class PairedChange:
    """Test samples (of a mask) that the control got right and the candidate wrong (`lost`), and the reverse."""

    lost: int
    gained: int
    size: int

    @classmethod
    def of(cls, control_correct: np.ndarray, correct: np.ndarray, mask: np.ndarray) -> PairedChange:
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
class LabelCheck:
    """An owner's label agreement beside what clean and wrong labels of the same classes would reach."""

    agreement: float | None
    clean: float | None
    wrong: float | None

    @property
    def implausible(self) -> bool:
        if (
            self.agreement is None
            or self.clean is None
            or self.wrong is None
            or self.clean <= self.wrong
        ):
            return False
        return self.agreement < (self.clean + self.wrong) / 2


def judge_harm(other: PairedChange, whole: PairedChange, labels: LabelCheck) -> str | None:
    """Why the owner's subset is harmful (one line; both reasons where both hold), or None when it is not.
    `other`: the paired change on the test samples outside the hard classes; `whole`: on the whole test set."""
    reasons = []
    if other.loss_beyond_noise() and not whole.gain_beyond_noise():
        reasons.append(
            f"lowers accuracy outside the hard classes by {100 * other.drop:.1f} pts (lost {other.lost}, "
            f"gained {other.gained} test samples; beyond noise at z = {Z:g}) without a net gain on the "
            "test set"
        )
    if labels.implausible and other.drop > 0:
        reasons.append(
            f"its labels contradict the trainer's data (agreement {labels.agreement:.2f}, clean labels "
            f"of these classes {labels.clean:.2f}) and it lowers accuracy outside the hard classes"
        )
    return "; ".join(reasons) or None
