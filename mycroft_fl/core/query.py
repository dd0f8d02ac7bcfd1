"""The query a trainer sends to owners, as flat arrays and scalars so any transport can carry it.

A raw query carries the hard query samples themselves. A private query (`private=True`) carries no
raw hard sample: only what selection needs of them — per hard class the sum of their last-layer
gradients, and their embeddings — computed by the trainer (see owner.hard_view). In a round after the
first, `exclude` lists the owner's samples already sent, which it does not send again. A query may
carry cluster centres of the trainer's features (`clusters`, for EcoVal): the owner then also reports
how many of its samples of the hard classes fall in each (`owner.answer.cluster_histogram`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mycroft_fl.core.clusters import Clusters
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import ModelSpec

_WEIGHTS = "weights/"
_EMBEDDER = "embedder/"
_TARGETS = "targets/"
_SELECTOR = "selector/"
_CENTRES = "clusters/centres"
_RADIUS = "clusters/radius"


@dataclass(frozen=True)
class Query:
    """Everything an owner needs to select its subset: the trainer's model, its hard query samples (or,
    private, their gradient targets and embeddings), the embedder, the selector's name and parameters,
    the budget, the audit's size and key (the rows it audits follow from the key and the owner's
    commitment), and the committed positions of the owner's samples it already sent (`exclude`, in
    later rounds)."""

    selector: str
    budget: int
    model: ModelSpec
    weights: dict[str, np.ndarray]
    hard_x: np.ndarray
    hard_y: np.ndarray
    embedder: str
    embedder_state: dict[str, np.ndarray] = field(default_factory=dict)
    selector_params: dict[str, float | str | bool] = field(default_factory=dict)
    seed: int = 0
    audit: int = 0
    audit_key: int = 0
    private: bool = False
    hard_embeddings: np.ndarray | None = None
    targets: dict[int, np.ndarray] | None = None
    exclude: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    clusters: Clusters | None = None

    def disclosure(self) -> dict:
        """What this query reveals of the trainer's data to every owner, per hard class: its hard
        samples themselves (a raw query), or their count, the sum of their last-layer gradients and
        their embeddings (a private one), and whether the embedder's standardiser (the mean and scale
        of the trainer's training inputs) went with them. The model's weights always go."""
        classes, counts = np.unique(self.hard_y, return_counts=True)
        embedded = self.hard_embeddings is not None
        per_class = {
            int(c): {
                "hard_samples": int(n),
                "raw_samples": 0 if self.private else int(n),
                "gradient_sum": bool(self.targets and int(c) in self.targets),
                "embeddings": int(n) if self.private and embedded else 0,
            }
            for c, n in zip(classes, counts)
        }
        return {
            "private": bool(self.private),
            "embedder": self.embedder,
            "standardiser": bool({"mean", "std"} <= set(self.embedder_state)),
            "model_weights": True,
            "per_class": per_class,
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"hard_y": self.hard_y}
        if self.private:
            if self.hard_embeddings is not None:
                arrays["hard_embeddings"] = self.hard_embeddings
            arrays.update({f"{_TARGETS}{c}": t for c, t in (self.targets or {}).items()})
        else:
            arrays["hard_x"] = self.hard_x
        if len(self.exclude):
            arrays["exclude"] = np.asarray(self.exclude, dtype=np.int64)
        if self.clusters is not None:
            arrays[_CENTRES] = self.clusters.centres
        arrays.update({_WEIGHTS + k: v for k, v in self.weights.items()})
        arrays.update({_EMBEDDER + k: v for k, v in self.embedder_state.items()})
        return arrays

    def to_config(self) -> dict[str, int | float | str | bool | list[int]]:
        return {
            "selector": self.selector,
            "budget": int(self.budget),
            "seed": int(self.seed),
            "model": self.model.name,
            "sample_shape": [int(s) for s in self.model.sample_shape],
            "n_classes": int(self.model.n_classes),
            "embedder": self.embedder,
            "private": bool(self.private),
            "audit": int(self.audit),
            "audit_key": int(self.audit_key),
            **{_SELECTOR + k: v for k, v in self.selector_params.items()},
            **({} if self.clusters is None else {_RADIUS: float(self.clusters.radius)}),
        }

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], config: dict) -> Query:
        """Rebuild a query from `to_arrays()` and `to_config()`; a missing part raises InputError."""
        private = bool(config.get("private", False))
        missing = [k for k in ("hard_y",) + (() if private else ("hard_x",)) if k not in arrays]
        missing += [
            k
            for k in ("selector", "budget", "model", "sample_shape", "n_classes", "embedder")
            if k not in config
        ]
        if missing:
            raise InputError(f"query is missing {', '.join(missing)}")
        spec = ModelSpec(
            str(config["model"]),
            tuple(int(s) for s in config["sample_shape"]),
            int(config["n_classes"]),
        )
        targets = {
            int(k[len(_TARGETS) :]): np.asarray(v)
            for k, v in arrays.items()
            if k.startswith(_TARGETS)
        }
        return cls(
            selector=str(config["selector"]),
            budget=int(config["budget"]),
            seed=int(config.get("seed", 0)),
            model=spec,
            weights={k[len(_WEIGHTS) :]: v for k, v in arrays.items() if k.startswith(_WEIGHTS)},
            hard_x=np.asarray(
                arrays.get("hard_x", np.zeros((0, *spec.sample_shape))), dtype=np.float32
            ),
            hard_y=np.asarray(arrays["hard_y"], dtype=np.int64),
            embedder=str(config["embedder"]),
            embedder_state={
                k[len(_EMBEDDER) :]: v for k, v in arrays.items() if k.startswith(_EMBEDDER)
            },
            selector_params={
                k[len(_SELECTOR) :]: v for k, v in config.items() if k.startswith(_SELECTOR)
            },
            audit=int(config.get("audit", 0)),
            audit_key=int(config.get("audit_key", 0)),
            private=private,
            hard_embeddings=np.asarray(arrays["hard_embeddings"])
            if "hard_embeddings" in arrays
            else None,
            targets=targets or None,
            exclude=np.asarray(arrays.get("exclude", np.empty(0)), dtype=np.int64),
            clusters=Clusters(
                np.asarray(arrays[_CENTRES], dtype=np.float32), float(config[_RADIUS])
            )
            if _CENTRES in arrays and _RADIUS in config
            else None,
        )
