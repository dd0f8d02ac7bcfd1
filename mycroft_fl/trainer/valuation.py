"""The trainer's side: baseline, hard samples, the query to owners, and owners valued by retraining.

Every owner is scored by the same procedure with the same seed: the baseline is fine-tuned (or, with
`retrain`, a model is trained from scratch) on the trainer's training set plus the owner's subset.
The trainer's own figures come from the control run of that procedure with no owner data, so an
owner's utility measures its data and not the retraining.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.progress import Progress
from mycroft_fl.owner.selectors import DATA_VALUATION
from mycroft_fl.scenarios.presets import StrategyConfig
from mycroft_fl.trainer.games import Game, leave_one_out, shapley
from mycroft_fl.trainer.ranking import rank_owners
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.trainer import Score, Trainer
from mycroft_fl.trust.harm import LabelCheck, PairedChange, judge_harm


class Coalitions:
    """Scores after training with the union of some owners' subsets (in owner-id order, so a coalition
    is one training set), each distinct coalition trained once (`retrains` counts them). A coalition
    with no data (the empty one, or owners that kept everything back) scores as the control."""

    def __init__(self, trainer: Trainer, owners: Sequence[OwnerResult]):
        self.trainer = trainer
        self.subsets = {o.id: o.subset for o in sorted(owners, key=lambda o: o.id)}
        self._memo: dict[frozenset[str], Score] = {}
        self.retrains = 0

    def score(self, coalition: frozenset[str]) -> Score:
        if coalition not in self._memo:
            parts = [s for k, s in self.subsets.items() if k in coalition and len(s)]
            self._memo[coalition] = self.trainer.score(Dataset.concat(parts)) if parts else self.trainer.control
            self.retrains += bool(parts)
        return self._memo[coalition]

    def utility(self, coalition: frozenset[str]) -> float:
        """The game's v(S): held-out hard accuracy with S's data minus the control's (v(∅) = 0)."""
        return self.score(coalition).hard_accuracy - self.trainer.control.hard_accuracy


def coalition_values(strategy: StrategyConfig, coalitions: Coalitions, *, seed: int = 0,
                     progress: Progress | None = None) -> dict[str, float]:
    """Each owner's leave-one-out or Shapley value (per `strategy.method`) in the game of `coalitions`:
    exact Shapley for at most `strategy.exact_up_to` owners, truncated Monte Carlo beyond."""
    players = list(coalitions.subsets)
    n = len(players)
    exact = n <= strategy.exact_up_to
    expected = n + 1 if strategy.method == "loo" else 2 ** n if exact else strategy.permutations * n + 1

    def value(coalition: frozenset[str]) -> float:
        v = coalitions.utility(coalition)
        if progress:
            progress(f"{strategy.method}: coalitions valued", min(game.evaluations + 1, expected), expected)
        return v

    game = Game(players, value)
    if strategy.method == "loo":
        return leave_one_out(game)
    return shapley(game, exact_up_to=strategy.exact_up_to, permutations=strategy.permutations,
                   tolerance=strategy.truncation, seed=seed)


def screen_owner(trainer: Trainer, owner: OwnerResult) -> LabelCheck:
    """Drop the replays of the trainer's own hard samples from an owner's subset; measure its labels."""
    replayed = trainer.screen.replays(owner.subset) if trainer.config.defences else np.zeros(owner.shared, bool)
    owner.replayed = int(replayed.sum())
    owner.subset = owner.subset.subset(np.flatnonzero(~replayed))
    owner.label_agreement = trainer.screen.label_agreement(owner.subset)
    clean, wrong = trainer.screen.expected_agreement(owner.subset.y)
    owner.label_agreement_expected = clean
    return LabelCheck(owner.label_agreement, clean, wrong)


def value_owners_subsets(trainer: Trainer, owners: Sequence[OwnerResult], strategy: StrategyConfig, *,
                         progress: Progress | None = None) -> tuple[dict, dict]:
    """Drop replays of the trainer's own hard samples, score every ok owner's subset, value the owners
    (their utility, or under data valuation their LOO or Shapley value in the game of owner coalitions),
    rank them, and train the combined model. Fills the owner results in place; returns the report's
    `combined` and `valuation` (what valuing cost: distinct retrains and seconds) parts."""
    start = time.perf_counter()
    ok = [o for o in owners if o.status == "ok"]
    other = ~np.isin(trainer.data.test.y, trainer.hard_classes)
    if not other.any():  # every class is hard (e.g. a two-class task): harm is a net loss on the whole test set
        other = np.ones_like(other)
    labels = {owner.id: screen_owner(trainer, owner) for owner in ok}
    coalitions = Coalitions(trainer, ok)
    everything = np.ones_like(other)
    for i, owner in enumerate(ok):
        s = coalitions.score(frozenset({owner.id}))
        owner.hard_accuracy, owner.test_accuracy = s.hard_accuracy, s.test_accuracy
        owner.utility = s.hard_accuracy - trainer.control.hard_accuracy
        change = PairedChange.of(trainer.control.test_correct, s.test_correct, other)
        owner.other_accuracy_drop = change.drop
        owner.harm_reason = judge_harm(change, PairedChange.of(trainer.control.test_correct, s.test_correct,
                                                               everything), labels[owner.id])
        owner.harmful = owner.harm_reason is not None and trainer.config.defences
        if progress:
            progress("valuing owners", i + 1, len(ok))
    if strategy.method in DATA_VALUATION:
        values = coalition_values(strategy, coalitions, seed=trainer.seed, progress=progress)
        for owner in ok:
            owner.utility = values[owner.id]
    ranks = rank_owners({o.id: o.utility for o in owners}, harmful={o.id: o.harmful for o in owners},
                        tie_break={o.id: o.test_accuracy for o in owners})
    for o in owners:
        o.rank = ranks[o.id]
    best = sorted((o for o in ok if o.utility > 0 and not o.harmful),
                  key=lambda o: (o.rank, o.id))[: trainer.config.combine_top]
    subset = Dataset.concat([o.subset for o in best]) if best else None
    s = trainer.score(subset) if best else trainer.control
    if progress:
        progress("combined model", 1, 1)
    combined = {"owners": [o.id for o in best], "shared": sum(o.shared for o in best),
                "hard_accuracy": s.hard_accuracy, "test_accuracy": s.test_accuracy}
    valuation = {"method": strategy.method, "retrains": coalitions.retrains + int(bool(best)),
                 "seconds": time.perf_counter() - start}
    return combined, valuation
