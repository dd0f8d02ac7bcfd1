"""The trainer: its baseline, its hard samples, the query it sends owners, and the scoring of a subset.

Every owner is scored by the same procedure with the same seed: the baseline is fine-tuned (or, with
`retrain`, a model is trained from scratch) on the trainer's training set plus the owner's subset.
The trainer's own figures come from the control run of that procedure with no owner data, so an
owner's utility measures its data and not the retraining."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np

from mycroft_fl.core.batched import batchable, copies_at_once, fine_tune_many
from mycroft_fl.core.clusters import Clusters
from mycroft_fl.core.data import Dataset, TrainerData
from mycroft_fl.core.embedders import check_embedder_name, embedder_state, make_embedder
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import (
    DEVICES,
    Classifier,
    ModelSpec,
    TrainConfig,
    accuracy,
    fine_tune,
    get_weights,
    predict,
    resolve_device,
    set_weights,
    train_new,
)
from mycroft_fl.core.params import (
    NON_NEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE_INT,
    Boolean,
    Constraint,
    Options,
    check_params,
)
from mycroft_fl.core.query import Query
from mycroft_fl.owner.answer import hard_view
from mycroft_fl.owner.selectors import Selector
from mycroft_fl.trainer.ecoval import fit_clusters
from mycroft_fl.trainer.hard import split_hard_samples
from mycroft_fl.trust.replies import reply_limits
from mycroft_fl.trust.screening import Screen


@dataclass(frozen=True)
class TrainerConfig:
    """How the trainer trains, finds its hard samples, embeds, and values owners.

    `combine_top`: the combined model uses the subsets of this many best-ranked owners (those with
    positive utility and not flagged harmful). `defences`: reject out-of-domain and padded replies, drop
    replays of the hard query samples, flag harmful owners; off only to measure what they change (the
    checks of a reply's form always run). `device`: where the trainer trains and embeds ("auto": CUDA
    when torch sees a device, else the CPU). `audit`: how many samples of its data of the hard classes
    each owner sends, drawn at random, for the label audit (0: none; counted in the owner's exposure,
    never trained on).
    """

    model: str = "mlp"
    training: TrainConfig = field(default_factory=TrainConfig)
    embedder: str = "trainer"
    hard_classes: tuple[int, ...] | None = None
    query_fraction: float = 0.5
    retrain: bool = False
    combine_top: int = 3
    defences: bool = True
    device: str = "auto"
    audit: int = 32

    constraints: ClassVar[dict[str, Constraint]] = {
        "query_fraction": OPEN_FRACTION,
        "retrain": Boolean(),
        "combine_top": POSITIVE_INT,
        "defences": Boolean(),
        "device": Options(DEVICES),
        "audit": NON_NEGATIVE_INT,
    }

    def __post_init__(self) -> None:
        check_embedder_name(self.embedder)
        check_params({k: getattr(self, k) for k in self.constraints}, self.constraints)


@dataclass(frozen=True)
class Score:
    """Accuracy on the held-out hard samples and on the test set, and which samples were right: the
    held-out hard ones, the test ones, and the unseen validation ones (those the baseline got right,
    never shown to owners: where harm is judged)."""

    hard_accuracy: float
    test_accuracy: float
    test_correct: np.ndarray = field(repr=False)
    hard_correct: np.ndarray = field(repr=False)
    unseen_correct: np.ndarray = field(repr=False)


class Trainer:
    """The model trainer: fits its baseline, finds hard samples, builds queries, scores owner subsets."""

    def __init__(
        self,
        data: TrainerData,
        config: TrainerConfig | None = None,
        *,
        seed: int = 0,
        initial: Mapping[str, np.ndarray] | None = None,
    ):
        """`initial`: the weights of the trainer's model to start from (its baseline) instead of
        training one on its training set; they must fit the model (InputError otherwise)."""
        self.data = data
        self.config = config or TrainerConfig()
        self.seed = seed
        self.spec = ModelSpec(self.config.model, data.train.sample_shape, data.n_classes)
        if self.config.hard_classes is not None:
            bad = [c for c in self.config.hard_classes if not 0 <= c < data.n_classes]
            if bad:
                raise InputError(f"hard_classes {bad} outside 0..{data.n_classes - 1}")
        self.device = resolve_device(self.config.device)
        self.baseline: Classifier = (
            train_new(self.spec, data.train, self.config.training, seed=seed, device=self.device)
            if initial is None
            else self._load(initial)
        )
        predicted = predict(self.baseline, data.val.x)
        split = split_hard_samples(
            data.val,
            predicted,
            classes=self.config.hard_classes,
            query_fraction=self.config.query_fraction,
            seed=seed,
        )
        self.hard_query = data.val.subset(split.query)
        self.hard_eval = data.val.subset(split.eval)
        self.unseen = data.val.subset(np.flatnonzero(predicted == data.val.y))
        if len(self.hard_eval) == 0:
            raise InputError(
                f"only {len(self.hard_query)} hard samples, one per class: none left to hold out "
                "for evaluation (use a larger validation set)"
            )
        self.hard_classes = split.classes(data.val)
        self.baseline_test_accuracy = accuracy(self.baseline, data.test)
        self.control_model = self.fit(None)  # the control: the same retraining, no owner data
        self.control = self.evaluate(self.control_model)
        self.screen = Screen(
            Dataset.concat([data.train, data.val]),
            self.hard_query,
            n_classes=data.n_classes,
            classes=self.hard_classes,
            seed=seed,
        )
        # owners' values far outside its range are out of domain; without defences only the form is checked
        self.reply_limits = (
            reply_limits(data.train.x) if self.config.defences else {"max_padding": None}
        )
        self._clusters: dict[tuple[int, float], Clusters] = {}

    def _load(self, weights: Mapping[str, np.ndarray]) -> Classifier:
        """The trainer's model with `weights`, or an InputError saying how they do not fit it."""
        model = self.spec.build(seed=self.seed)
        state = model.state_dict()
        wrong = sorted(set(state) ^ set(weights)) or [
            k for k in state if tuple(np.shape(weights[k])) != tuple(state[k].shape)
        ]
        if wrong:
            raise InputError(
                f"initial weights do not fit the trainer's {self.spec.name!r} model "
                f"(missing, unexpected or misshapen: {', '.join(wrong[:5])})"
            )
        return set_weights(model, dict(weights)).to(self.device)

    def features(self, x: np.ndarray) -> np.ndarray:
        """The baseline model's penultimate features of `x`: what owners compute from the query's
        weights to place their samples in the clusters."""
        return make_embedder("trainer", {}, self.baseline, device=str(self.device))(x)

    def clusters(self, k: int, reach: float) -> Clusters:
        """Seeded k-means centres (`fit_clusters`) of the features of the trainer's training samples of
        the hard classes and its hard query samples, computed once per (k, reach).

        Both, because the hard samples alone are few and show only what the model gets wrong, while
        its training data lack exactly the kinds it is missing (on spurious, every counter-example):
        together the cells separate more of what it has from what it needs.
        """
        key = (k, reach)
        if key not in self._clusters:
            own = np.isin(self.data.train.y, self.hard_query.y)
            x = np.concatenate([self.data.train.x[own], self.hard_query.x])
            self._clusters[key] = fit_clusters(self.features(x), k, reach, seed=self.seed)
        return self._clusters[key]

    def query(
        self,
        selector: Selector,
        budget: int,
        *,
        clusters: Clusters | None = None,
        private: bool = False,
        model: Classifier | None = None,
        hard: Dataset | None = None,
    ) -> Query:
        """The query for owners: model, hard query samples, embedder, the selector and budget, and
        the cluster centres owners count their data in (EcoVal's; None: none). With `private`, no
        raw hard sample leaves the trainer: the query carries only their per-class gradient
        targets and embeddings. A later round sends another `model` (default: the baseline) and
        part of the hard query samples (`hard`, default: all)."""
        model = self.baseline if model is None else model
        hard = self.hard_query if hard is None else hard
        state = embedder_state(self.config.embedder, self.data.train.x)
        view = None
        if private:
            embed = make_embedder(self.config.embedder, state, model, device=str(self.device))
            view = hard_view(selector, model, embed, hard, seed=self.seed)
        return Query(
            selector=selector.name,
            selector_params=selector.params(),
            budget=budget,
            model=self.spec,
            weights=get_weights(model),
            hard_x=hard.x[:0] if private else hard.x,
            hard_y=hard.y,
            embedder=self.config.embedder,
            embedder_state=state,
            seed=self.seed,
            audit=self.config.audit,
            private=private,
            hard_embeddings=None if view is None else view.embeddings,
            targets=None if view is None else view.targets,
            clusters=clusters,
        )

    def fit(self, extra: Dataset | None) -> Classifier:
        """The model trained with `extra` added to the training set, as every owner is scored."""
        train = (
            self.data.train
            if extra is None or len(extra) == 0
            else Dataset.concat([self.data.train, extra])
        )
        if self.config.retrain:
            return train_new(
                self.spec, train, self.config.training, seed=self.seed, device=self.device
            )
        return fine_tune(self.baseline, train, self.config.training, seed=self.seed)

    def score(self, extra: Dataset | None) -> Score:
        """Hard (held-out) and test accuracy after training with `extra` added to the training set."""
        return self.evaluate(self.fit(extra))

    def score_many(self, extras: list[Dataset | None]) -> list[Score]:
        """`score` of each of `extras`, fine-tuning the copies side by side (`core.batched`) when
        the model allows it, `batch` copies at a time; one at a time otherwise (and with
        `retrain`)."""
        if self.config.retrain or not batchable(self.baseline):
            return [self.score(e) for e in extras]
        parts = (self.hard_eval, self.data.test, self.unseen)
        x = np.concatenate([p.x for p in parts])
        ends = np.cumsum([len(p) for p in parts])[:-1]
        scores = []
        for start in range(0, len(extras), self._batch):
            chunk = extras[start : start + self._batch]
            copies = fine_tune_many(
                self.baseline, self.data.train, chunk, self.config.training, seed=self.seed
            )
            for predicted in copies.predict(x):
                hard, test, unseen = (
                    p == part.y for p, part in zip(np.split(predicted, ends), parts)
                )
                scores.append(Score(float(hard.mean()), float(test.mean()), test, hard, unseen))
        return scores

    @cached_property
    def _batch(self) -> int:
        """Copies of the model fine-tuned side by side in `score_many`."""
        return copies_at_once(
            self.baseline, self.data.train.sample_shape, self.config.training.batch_size
        )

    def evaluate(self, model: Classifier) -> Score:
        """A trained model's hard (held-out) and test accuracy, and which samples it gets right."""
        hard, test, unseen = (
            predict(model, part.x) == part.y
            for part in (self.hard_eval, self.data.test, self.unseen)
        )
        return Score(float(hard.mean()), float(test.mean()), test, hard, unseen)

    def summary(self) -> dict:
        return {
            "hard_accuracy": self.control.hard_accuracy,
            "test_accuracy": self.control.test_accuracy,
            "baseline_test_accuracy": self.baseline_test_accuracy,
            "hard_query": len(self.hard_query),
            "hard_eval": len(self.hard_eval),
            "hard_classes": self.hard_classes,
        }
