"""The utility of a coalition of owners: the trainer's scores after training with their data together."""

from __future__ import annotations

from collections.abc import Sequence

from mycroft_fl.core.data import Dataset
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.trainer import Score, Trainer


class Coalitions:
    """Scores after training with the union of some owners' subsets (in owner-id order, so a coalition
    is one training set), each distinct coalition trained once (`retrains` counts them). A coalition
    with no data (the empty one, or owners that kept everything back) scores as the control."""

    def __init__(self, trainer: Trainer, owners: Sequence[OwnerResult]):
        self.trainer = trainer
        self.subsets = {o.id: o.subset for o in sorted(owners, key=lambda o: o.id)}
        self._memo: dict[frozenset[str], Score] = {}
        self.retrains = 0

    @property
    def players(self) -> list[str]:
        """The owners, in id order."""
        return list(self.subsets)

    def score(self, coalition: frozenset[str]) -> Score:
        if coalition not in self._memo:
            parts = [s for k, s in self.subsets.items() if k in coalition and len(s)]
            self._memo[coalition] = (
                self.trainer.score(Dataset.concat(parts)) if parts else self.trainer.control
            )
            self.retrains += bool(parts)
        return self._memo[coalition]

    def utility(self, coalition: frozenset[str]) -> float:
        """The game's v(S): held-out hard accuracy with S's data minus the control's (v(∅) = 0)."""
        return self.score(coalition).hard_accuracy - self.trainer.control.hard_accuracy
