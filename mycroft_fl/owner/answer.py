"""The owner's side of a query: embed and compute gradients with the trainer's model, then select."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import NamedTuple

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.embedders import make_embedder
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import Classifier, set_weights
from mycroft_fl.core.query import Query
from mycroft_fl.owner.selectors import HardView, OwnerView, Selector, make_selector


def hard_view(
    selector: Selector,
    model: Classifier,
    embed: Callable[[np.ndarray], np.ndarray] | None,
    hard: Dataset,
    *,
    seed: int = 0,
) -> HardView:
    """What `selector` needs to know of the hard samples: per hard class the sum of their last-layer
    gradients (`selector.gradients`, seeded by the query's `seed`), and their embeddings. Owners
    compute it from a raw query; a trainer keeping its hard samples private computes it itself and
    sends only this."""
    targets = embeddings = None
    if selector.needs_gradients:
        gradients = selector.gradients(model, hard.x, hard.y, seed=seed)
        targets = {int(c): gradients[hard.y == c].total() for c in np.unique(hard.y)}
    if selector.needs_embeddings and embed is not None:
        embeddings = embed(hard.x)
    return HardView(y=hard.y, embeddings=embeddings, targets=targets)


ANY_CODE = "*"
#: Separates the audit's random stream from every other draw seeded by the query's seed.
AUDIT_STREAM = 0xA0D17


def check_code(names: dict[str, str], allow_code: Collection[str] | str) -> None:
    """Refuse to run user code ("package.module:factory") that the owner has not allowed.

    A query names the model and embedder its owners build; any name but a built-in one is code the
    owner would import and run, so an owner runs only the names it allowed.

    Parameters
    ----------
    names : dict of str to str
        What will be built, by kind: {"model": "mlp", "embedder": "pkg.mod:make"}.
    allow_code : collection of str, or "*"
        The "package.module:factory" names the owner allows, or "*" for any.

    Raises
    ------
    InputError
        Naming the refused code and how an owner allows it.
    """
    if allow_code == ANY_CODE:
        return
    refused = [(k, n) for k, n in names.items() if ":" in n and n not in allow_code]
    if refused:
        what = ", ".join(f"{kind} {name!r}" for kind, name in refused)
        allow = ",".join(name for _, name in refused)
        raise InputError(
            f"this owner runs only built-in models and embedders, not the query's {what}: "
            f'allow it in the owner\'s node config, allow-code="{allow}" (or "*" for any)'
        )


def select_for_query(
    query: Query, data: Dataset, *, allow_code: Collection[str] | str = ()
) -> np.ndarray:
    """Indices of the owner's samples to share for `query`.

    Parameters
    ----------
    query : Query
        The trainer's query.
    data : Dataset
        The owner's data.
    allow_code : collection of str, or "*"
        User code ("package.module:factory") the owner agrees to run when the query names it as
        model or embedder; "*" allows any. Built-in names always run.

    Returns
    -------
    numpy.ndarray
        Owner indices: at most the budget, never one of `query.exclude`, except for unbudgeted
        selectors (full information: every sample of a hard class; all data: every sample).
    """
    selector = make_selector(query.selector, **query.selector_params)
    if not selector.budgeted:
        return selector.select(
            OwnerView(y=data.y), HardView(y=query.hard_y), query.budget, seed=query.seed
        )
    names = {"model": query.model.name}
    if selector.needs_embeddings:
        names["embedder"] = query.embedder
    check_code(names, allow_code)
    model = set_weights(query.model.build(), query.weights)
    candidates = np.flatnonzero(np.isin(data.y, np.unique(query.hard_y)))
    candidates = candidates[~np.isin(candidates, query.exclude)]  # sent in an earlier round
    if len(candidates) == 0:
        return candidates
    owner_x, owner_y = data.x[candidates], data.y[candidates]
    embed = (
        make_embedder(query.embedder, query.embedder_state, model)
        if selector.needs_embeddings
        else None
    )
    if query.private:
        hard = HardView(y=query.hard_y, embeddings=query.hard_embeddings, targets=query.targets)
    else:
        hard = hard_view(
            selector, model, embed, Dataset(query.hard_x, query.hard_y), seed=query.seed
        )
    gradients = (
        selector.gradients(model, owner_x, owner_y, seed=query.seed)
        if selector.needs_gradients
        else None
    )
    owner = OwnerView(
        y=owner_y, embeddings=None if embed is None else embed(owner_x), gradients=gradients
    )
    return candidates[selector.select(owner, hard, query.budget, seed=query.seed)]


class Answer(NamedTuple):
    """What an owner sends for a query: its picks (`x`, `y` and their indices in its data), apart the
    audit sample (`audit_x`, `audit_y`: drawn at random, for the trainer's label audit) and, when the
    query carries cluster centres, its `histogram` over them (else None)."""

    x: np.ndarray
    y: np.ndarray
    indices: np.ndarray
    audit_x: np.ndarray
    audit_y: np.ndarray
    histogram: np.ndarray | None = None


def cluster_histogram(query: Query, data: Dataset) -> np.ndarray | None:
    """How many of the owner's samples of the hard classes fall in each of the query's clusters, per
    hard class: (hard classes, clusters + 1) counts, the last column the far cell. Features are the
    trainer model's penultimate ones (built-in code every owner runs). None when the query carries no
    centres.

    Parameters
    ----------
    query : Query
        The trainer's query (its model, weights, hard classes and `clusters`).
    data : Dataset
        The owner's data.
    """
    if query.clusters is None:
        return None
    classes = np.unique(query.hard_y)
    mine = np.flatnonzero(np.isin(data.y, classes))
    embed = make_embedder("trainer", {}, set_weights(query.model.build(), query.weights))
    features = embed(data.x[mine]) if len(mine) else np.zeros((0, query.clusters.centres.shape[1]))
    return query.clusters.histogram(features, data.y[mine], classes)


def audit_sample(query: Query, data: Dataset) -> np.ndarray:
    """Indices of the owner's audit sample: `query.audit` of its samples of the hard classes drawn at
    random (seeded by the query), never chosen for being useful, so the trainer can judge the owner's
    labels as a whole. Empty when the query asks for none, or for an unbudgeted selector (whose reply
    is all of that data anyway).

    Parameters
    ----------
    query : Query
        The trainer's query (its `audit` size, hard classes, selector and seed).
    data : Dataset
        The owner's data.

    Returns
    -------
    numpy.ndarray
        Owner indices (int64), ascending.
    """
    if not query.audit or not make_selector(query.selector, **query.selector_params).budgeted:
        return np.empty(0, dtype=np.int64)
    candidates = np.flatnonzero(np.isin(data.y, np.unique(query.hard_y)))
    rng = np.random.default_rng([query.seed, len(data), AUDIT_STREAM])
    picked = rng.choice(candidates, size=min(query.audit, len(candidates)), replace=False)
    return np.sort(picked).astype(np.int64)
