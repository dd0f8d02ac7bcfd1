"""The utility of a coalition of owners: the trainer's scores after training with their data together."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.models import Classifier
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.trainer import Score, Trainer

# map(function, items) -> the function's results in order: the builtin, or one that spreads the calls
# (Ray tasks over a cluster; see flower/simulation.py). The items are chunks of training sets.
MapFunction = Callable[
    [Callable[[list[Dataset]], list[Score]], list[list[Dataset]]], Iterable[list[Score]]
]
#: Training sets handed to `Trainer.score_many` at once: the unit a map spreads over its workers.
CHUNK = 64


class Coalitions:
    """Scores after training with the union of some owners' subsets (in owner-id order, so a coalition
    is one training set), each distinct training set trained once (`retrains` counts them). A
    coalition with no data (the empty one, or owners that kept everything back) scores as the
    control. Trainings go through `map_fn` (`score_all` hands it many at once). `owners` keeps each
    owner's result (its harm flag, its cluster histogram) for valuers that need more than the
    subsets.

    The scores outlive a round: `with_owners` sets the owners of the next valuation, and a coalition
    whose owners' subsets have not grown since (an owner's data only grows over rounds) is not
    trained again.
    """

    def __init__(
        self, trainer: Trainer, owners: Sequence[OwnerResult] = (), map_fn: MapFunction = map
    ):
        self.trainer = trainer
        self.map_fn = map_fn
        self._memo: dict[frozenset[tuple[str, int]], Score] = {}
        self._last: tuple[frozenset[tuple[str, int]], Classifier] | None = None
        self.retrains = 0
        self.with_owners(owners)

    def with_owners(self, owners: Sequence[OwnerResult]) -> Coalitions:
        """Value these owners (ok ones, with their screened subsets) from now on."""
        self.owners = {o.id: o for o in sorted(owners, key=lambda o: o.id)}
        self.subsets = {k: o.subset for k, o in self.owners.items()}
        return self

    @property
    def players(self) -> list[str]:
        """The owners, in id order."""
        return list(self.subsets)

    def _key(self, coalition: frozenset[str]) -> frozenset[tuple[str, int]]:
        """A coalition's training set: its owners with how much each holds now."""
        return frozenset((k, len(self.subsets[k])) for k in coalition)

    def _data(self, coalition: frozenset[str]) -> Dataset | None:
        parts = [s for k, s in self.subsets.items() if k in coalition and len(s)]
        return Dataset.concat(parts) if parts else None

    def score(self, coalition: frozenset[str]) -> Score:
        self.score_all([coalition])
        return self._memo[self._key(coalition)]

    def score_all(self, coalitions: Iterable[frozenset[str]]) -> None:
        """Score the coalitions not scored yet, their trainings in one call of the map function."""
        todo: dict[frozenset[tuple[str, int]], Dataset] = {}
        for coalition in coalitions:
            key = self._key(coalition)
            if key in self._memo or key in todo:
                continue
            data = self._data(coalition)
            if data is None:
                self._memo[key] = self.trainer.control
            else:
                todo[key] = data
        self._memo.update(zip(todo, self.score_data(list(todo.values()))))

    def combined(self, coalition: frozenset[str]) -> Score:
        """The coalition's score; trained in this process when it is not scored yet, so that its
        model is at hand for `model` without a second training."""
        if self._key(coalition) not in self._memo:
            self.model(coalition)
        return self.score(coalition)

    def model(self, coalition: frozenset[str]) -> Classifier:
        """The model trained with the coalition's data (the control's for none), in this process;
        the last one is kept. Training it records its score, so it is not trained again for that."""
        data = self._data(coalition)
        if data is None:
            return self.trainer.control_model
        key = self._key(coalition)
        if self._last is None or self._last[0] != key:
            model = self.trainer.fit(data)
            self.retrains += 1
            self._memo.setdefault(key, self.trainer.evaluate(model))
            self._last = (key, model)
        return self._last[1]

    def fit(self, data: Dataset) -> Classifier:
        """The model trained with `data` (any data, not only an owners' coalition) added to the
        trainer's training set, in this process; counted in `retrains`, not memoised."""
        self.retrains += 1
        return self.trainer.fit(data)

    def score_data(self, datasets: list[Dataset]) -> list[Score]:
        """Scores after training with each of `datasets` (any data, not only owners' coalitions), in one
        call of the map function over chunks of them; counted in `retrains`."""
        chunks = [datasets[i : i + CHUNK] for i in range(0, len(datasets), CHUNK)]
        scores = [s for chunk in self.map_fn(self.trainer.score_many, chunks) for s in chunk]
        self.retrains += len(datasets)
        return scores

    def utility(self, coalition: frozenset[str]) -> float:
        """The game's v(S): held-out hard accuracy with S's data minus the control's (v(∅) = 0)."""
        return self.score(coalition).hard_accuracy - self.trainer.control.hard_accuracy
