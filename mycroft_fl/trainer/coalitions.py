"""The utility of a coalition of owners: the trainer's scores after training with their data together."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from mycroft_fl.core.data import Dataset
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.trainer import Score, Trainer

# map(function, items) -> the function's results in order: the builtin, or one that spreads the calls
# (Ray tasks over a cluster; see flower/simulation.py)
MapFunction = Callable[[Callable[[Dataset], Score], list[Dataset]], Iterable[Score]]


class Coalitions:
    """Scores after training with the union of some owners' subsets (in owner-id order, so a coalition
    is one training set), each distinct coalition trained once (`retrains` counts them). A coalition
    with no data (the empty one, or owners that kept everything back) scores as the control. Trainings
    go through `map_fn` (`score_all` hands it many at once). `owners` keeps each owner's result (its
    harm flag, its cluster histogram) for valuers that need more than the subsets."""

    def __init__(self, trainer: Trainer, owners: Sequence[OwnerResult], map_fn: MapFunction = map):
        self.trainer = trainer
        self.map_fn = map_fn
        self.owners = {o.id: o for o in sorted(owners, key=lambda o: o.id)}
        self.subsets = {k: o.subset for k, o in self.owners.items()}
        self._memo: dict[frozenset[str], Score] = {}
        self.retrains = 0

    @property
    def players(self) -> list[str]:
        """The owners, in id order."""
        return list(self.subsets)

    def score(self, coalition: frozenset[str]) -> Score:
        self.score_all([coalition])
        return self._memo[coalition]

    def score_all(self, coalitions: Iterable[frozenset[str]]) -> None:
        """Score the coalitions not scored yet, their trainings in one call of the map function."""
        todo: dict[frozenset[str], Dataset] = {}
        for coalition in coalitions:
            if coalition in self._memo or coalition in todo:
                continue
            parts = [s for k, s in self.subsets.items() if k in coalition and len(s)]
            if parts:
                todo[coalition] = Dataset.concat(parts)
            else:
                self._memo[coalition] = self.trainer.control
        self._memo.update(zip(todo, self.score_data(list(todo.values()))))

    def score_data(self, datasets: list[Dataset]) -> list[Score]:
        """Scores after training with each of `datasets` (any data, not only owners' coalitions), in one
        call of the map function; counted in `retrains`."""
        scores = list(self.map_fn(self.trainer.score, datasets))
        self.retrains += len(datasets)
        return scores

    def utility(self, coalition: frozenset[str]) -> float:
        """The game's v(S): held-out hard accuracy with S's data minus the control's (v(∅) = 0)."""
        return self.score(coalition).hard_accuracy - self.trainer.control.hard_accuracy
