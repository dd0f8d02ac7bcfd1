"""The trainer's side: baseline, hard samples, the query to owners, and owners valued by retraining.

Every owner is scored by the same procedure with the same seed: the baseline is fine-tuned (or, with
`retrain`, a model is trained from scratch) on the trainer's training set plus the owner's subset.
The trainer's own figures come from the control run of that procedure with no owner data, so an
owner's utility measures its data and not the retraining.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .data import Dataset, TrainerData
from .datavaluation import Game, leave_one_out, shapley
from .embedders import check_embedder_name, embedder_state, make_embedder
from .errors import InputError
from .hard import split_hard_samples
from .harm import LabelCheck, PairedChange, judge_harm
from .models import Classifier, ModelSpec, TrainConfig, accuracy, fine_tune, get_weights, predict, train_new
from .owner import hard_view
from .presets import StrategyConfig
from .query import Query
from .ranking import rank_owners
from .replies import reply_limits
from .screening import Screen
from .selection import DATA_VALUATION

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainerConfig:
    """How the trainer trains, finds its hard samples, embeds, and values owners.

    `combine_top`: the combined model uses the subsets of this many best-ranked owners (those with
    positive utility and not flagged harmful). `defences`: reject out-of-domain and padded replies, drop
    replays of the hard query samples, flag harmful owners; off only to measure what they change (the
    checks of a reply's form always run).
    """

    model: str = "mlp"
    training: TrainConfig = field(default_factory=TrainConfig)
    embedder: str = "trainer"
    hard_classes: tuple[int, ...] | None = None
    query_fraction: float = 0.5
    retrain: bool = False
    combine_top: int = 3
    defences: bool = True

    def __post_init__(self) -> None:
        check_embedder_name(self.embedder)
        if not isinstance(self.combine_top, int) or isinstance(self.combine_top, bool) or self.combine_top < 1:
            raise InputError(f"combine_top must be an integer >= 1, got {self.combine_top!r}")
        for name in ("retrain", "defences"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.query_fraction, bool) or not isinstance(self.query_fraction, (int, float)) \
                or not 0 < self.query_fraction < 1:
            raise InputError(f"query_fraction must be a number in (0, 1), got {self.query_fraction!r}")


@dataclass(frozen=True)
class Score:
    """Accuracy on the held-out hard samples and on the test set, and which test samples were right."""

    hard_accuracy: float
    test_accuracy: float
    test_correct: np.ndarray = field(repr=False)


class Trainer:
    """The model trainer: fits its baseline, finds hard samples, builds queries, scores owner subsets."""

    def __init__(self, data: TrainerData, config: TrainerConfig | None = None, *, seed: int = 0):
        self.data = data
        self.config = config or TrainerConfig()
        self.seed = seed
        self.spec = ModelSpec(self.config.model, data.train.sample_shape, data.n_classes)
        if self.config.hard_classes is not None:
            bad = [c for c in self.config.hard_classes if not 0 <= c < data.n_classes]
            if bad:
                raise InputError(f"hard_classes {bad} outside 0..{data.n_classes - 1}")
        self.baseline: Classifier = train_new(self.spec, data.train, self.config.training, seed=seed)
        split = split_hard_samples(data.val, predict(self.baseline, data.val.x), classes=self.config.hard_classes,
                                   query_fraction=self.config.query_fraction, seed=seed)
        self.hard_query = data.val.subset(split.query)
        self.hard_eval = data.val.subset(split.eval)
        if len(self.hard_eval) == 0:
            raise InputError(f"only {len(self.hard_query)} hard samples, one per class: none left to hold out "
                             "for evaluation (use a larger validation set)")
        self.hard_classes = split.classes(data.val)
        self.baseline_test_accuracy = accuracy(self.baseline, data.test)
        self.control = self.score(None)
        self.screen = Screen(Dataset.concat([data.train, data.val]), self.hard_query, n_classes=data.n_classes,
                             seed=seed)
        # owners' values far outside its range are out of domain; without defences only the form is checked
        self.reply_limits = reply_limits(data.train.x) if self.config.defences else {"max_padding": None}

    def query(self, strategy: StrategyConfig, *, private: bool = False) -> Query:
        """The query for owners: model, hard query samples, embedder and the strategy's method. With
        `private`, no raw hard sample leaves the trainer: the query carries only their per-class
        gradient targets and embeddings."""
        state = embedder_state(self.config.embedder, self.data.train.x)
        view = None
        if private:
            embed = make_embedder(self.config.embedder, state, self.baseline)
            view = hard_view(strategy.method, self.baseline, embed, self.hard_query)
        return Query(
            method=strategy.method, budget=strategy.budget, model=self.spec, weights=get_weights(self.baseline),
            hard_x=self.hard_query.x[:0] if private else self.hard_query.x, hard_y=self.hard_query.y,
            embedder=self.config.embedder, embedder_state=state,
            ridge=strategy.ridge, penalty=strategy.penalty, anchor=strategy.anchor, seed=self.seed, private=private,
            hard_embeddings=None if view is None else view.embeddings,
            targets=None if view is None else view.targets,
        )

    def score(self, extra: Dataset | None) -> Score:
        """Hard (held-out) and test accuracy after training with `extra` added to the training set."""
        train = self.data.train if extra is None or len(extra) == 0 else Dataset.concat([self.data.train, extra])
        if self.config.retrain:
            model = train_new(self.spec, train, self.config.training, seed=self.seed)
        else:
            model = fine_tune(self.baseline, train, self.config.training, seed=self.seed)
        correct = predict(model, self.data.test.x) == self.data.test.y
        return Score(accuracy(model, self.hard_eval), float(correct.mean()), correct)

    def summary(self) -> dict:
        return {
            "hard_accuracy": self.control.hard_accuracy, "test_accuracy": self.control.test_accuracy,
            "baseline_test_accuracy": self.baseline_test_accuracy,
            "hard_query": len(self.hard_query), "hard_eval": len(self.hard_eval), "hard_classes": self.hard_classes,
        }


@dataclass
class OwnerResult:
    """One owner's outcome. `status` is ok, rejected (its reply failed a check) or failed (no usable reply).

    `received` counts the samples that left the owner, whatever became of them; `shared` those the
    trainer kept and used (none for a rejected reply; replays of its own hard samples removed).
    """

    id: str
    status: str = "ok"
    subset: Dataset | None = field(default=None, repr=False)
    reason: str | None = None
    selection_s: float | None = None
    local_size: int | None = None
    received: int = 0
    replayed: int = 0
    label_agreement: float | None = None
    label_agreement_expected: float | None = None
    hard_accuracy: float | None = None
    test_accuracy: float | None = None
    utility: float | None = None
    other_accuracy_drop: float | None = None
    harmful: bool = False
    harm_reason: str | None = None
    rank: int | None = None

    @property
    def shared(self) -> int:
        return 0 if self.subset is None else len(self.subset)

    def to_dict(self) -> dict:
        out = {"id": self.id, "status": self.status, "shared": self.shared, "received": self.received}
        if self.status == "ok":
            out.update(hard_accuracy=self.hard_accuracy, test_accuracy=self.test_accuracy, utility=self.utility,
                       other_accuracy_drop=self.other_accuracy_drop, harmful=self.harmful,
                       replayed=self.replayed, label_agreement=self.label_agreement,
                       label_agreement_expected=self.label_agreement_expected)
            if self.harmful:
                out["harm_reason"] = self.harm_reason
        else:
            out["reason"] = self.reason
        out["rank"] = self.rank
        if self.local_size is not None:
            out["local_size"] = self.local_size
        if self.selection_s is not None:
            out["selection_s"] = round(self.selection_s, 4)
        return out


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
