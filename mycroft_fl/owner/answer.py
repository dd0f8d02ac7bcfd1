"""The owner's side of a query: embed and compute gradients with the trainer's model, then select."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from mycroft_fl.core.commitment import Commitment
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.embedders import make_embedder
from mycroft_fl.core.models import Classifier, set_weights
from mycroft_fl.core.params import as_count, as_matrix
from mycroft_fl.core.query import Query
from mycroft_fl.owner.budget import interleave, share_budget
from mycroft_fl.owner.code import check_code
from mycroft_fl.owner.gradients import factors_in_batches
from mycroft_fl.owner.holding import Holding, Opening, audit_positions, label_counts
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


#: Owner samples embedded or given gradients per pass through the model: memory follows the batch,
#: not the owner.
BATCH_ROWS = 4096


def select_for_query(
    query: Query, data: Dataset, *, allow_code: Collection[str] | str = ()
) -> np.ndarray:
    """Indices of the owner's samples to share for `query`.

    Only the candidates (the owner's samples of the hard classes, less `query.exclude`) are embedded
    and given gradients, `BATCH_ROWS` samples at a time (`owner_view`); gradient matching, which
    works per hard class on its share of the budget, goes one hard class at a time, so memory holds
    one class's factors and embeddings. `data.x` is only read by rows: it may be a memory map
    (`numpy.load(..., mmap_mode="r")` of an .npy).

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
    embed = (
        make_embedder(query.embedder, query.embedder_state, model)
        if selector.needs_embeddings
        else None
    )
    told = (  # checked here as a whole, though each hard class is used alone
        HardView(y=query.hard_y, embeddings=query.hard_embeddings, targets=query.targets)
        if query.private
        else HardView(y=query.hard_y)
    )

    def hard(classes: np.ndarray) -> HardView:
        """What the owner is told of the hard samples of `classes`: as sent in a private query, else
        computed from them."""
        mask = np.isin(query.hard_y, classes)
        if query.private:
            wanted = set(classes.tolist())
            return HardView(
                y=told.y[mask],
                embeddings=None if told.embeddings is None else told.embeddings[mask],
                targets=None
                if told.targets is None
                else {c: t for c, t in told.targets.items() if c in wanted},
            )
        hard_data = Dataset(query.hard_x[mask], query.hard_y[mask])
        return hard_view(selector, model, embed, hard_data, seed=query.seed)

    def select(rows: np.ndarray, classes: np.ndarray, budget: int) -> np.ndarray:
        owner = owner_view(selector, model, embed, data, rows, seed=query.seed)
        return rows[selector.select(owner, hard(classes), budget, seed=query.seed)]

    if not selector.needs_gradients:
        return select(candidates, told.classes, query.budget)
    # gradient matching shares the budget over the hard classes (`share_budget`) and matches each
    # class's candidates alone: asked one class and its share at a time, it picks the same
    budget = as_count(query.budget, "budget", minimum=1)
    labels = data.y[candidates]
    order = np.argsort(labels, kind="stable")  # candidates by class, ascending within one
    classes, starts = np.unique(labels[order], return_index=True)
    per_class = dict(zip(classes.tolist(), np.split(candidates[order], starts[1:])))
    shares = share_budget(told.counts, budget, {c: len(r) for c, r in per_class.items()})
    return interleave(
        [select(per_class[c], np.array([c]), k) for c, k in sorted(shares.items()) if k > 0]
    )


def owner_view(
    selector: Selector,
    model: Classifier,
    embed: Callable[[np.ndarray], np.ndarray] | None,
    data: Dataset,
    rows: np.ndarray,
    *,
    seed: int = 0,
) -> OwnerView:
    """What `selector` needs to know of the owner's samples `rows`: their labels, embeddings (when
    `embed` is given) and last-layer gradients (`selector.gradients`, seeded by the query's `seed`).

    Both go through the model `BATCH_ROWS` samples at a time into arrays allocated once, so memory
    holds the results for `rows` and one batch's inputs and activations.

    Parameters
    ----------
    selector : Selector
        The query's selector.
    model : Classifier
        The trainer's model.
    embed : callable or None
        The query's embedder.
    data : Dataset
        The owner's data (`x` read by rows only).
    rows : numpy.ndarray
        Indices into `data` of the samples to view (at least one).
    seed : int
        The query's seed.

    Returns
    -------
    OwnerView
        Row i is sample `rows[i]`.
    """
    y = data.y[rows]
    embeddings = gradients = None
    if embed is not None:
        embeddings = _embed_in_batches(embed, data.x, rows)
    if selector.needs_gradients:
        gradients = factors_in_batches(
            lambda part: selector.gradients(model, data.x[rows[part]], y[part], seed=seed),
            len(rows),
            BATCH_ROWS,
        )
    return OwnerView(y=y, embeddings=embeddings, gradients=gradients)


def _embed_in_batches(
    embed: Callable[[np.ndarray], np.ndarray], x: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """embed(x[rows]), `BATCH_ROWS` rows at a time, into one array of the embeddings' dtype."""
    out = None
    for start in range(0, len(rows), BATCH_ROWS):
        part = rows[start : start + BATCH_ROWS]
        values = as_matrix(embed(x[part]), "owner.embeddings", rows=len(part))
        if out is None:
            out = np.empty((len(rows), values.shape[1]), dtype=values.dtype)
        out[start : start + len(part)] = values
    return out


class Answer(NamedTuple):
    """What an owner sends for a query, opened against its commitment: its picks (`x`, `y`, their
    `positions` in the committed order and `proofs`), apart the audit's rows the trainer drew
    (`audit_x`, `audit_y`, `audit_positions`, `audit_proofs`), and, when the query carries cluster
    centres, its `histogram` over them (else None)."""

    x: np.ndarray
    y: np.ndarray
    positions: np.ndarray
    proofs: np.ndarray
    audit_x: np.ndarray
    audit_y: np.ndarray
    audit_positions: np.ndarray
    audit_proofs: np.ndarray
    histogram: np.ndarray | None = None

    @classmethod
    def of(cls, picks: Opening, audit: Opening, histogram: np.ndarray | None) -> Answer:
        """The answer of these openings."""
        return cls(
            picks.x,
            picks.y,
            picks.positions,
            picks.proofs,
            audit.x,
            audit.y,
            audit.positions,
            audit.proofs,
            histogram,
        )


def answer_query(
    query: Query, holding: Holding, *, allow_code: Collection[str] | str = ()
) -> Answer:
    """What an honest owner sends for `query`: its picks (`select_for_query`) and the rows of the
    trainer's audit in its picks' classes (`audit_positions_of`), both opened against its
    commitment, and its cluster
    histogram when the query carries centres (`cluster_histogram`).

    Parameters
    ----------
    query : Query
        The trainer's query (`exclude` and the audit name rows by committed position).
    holding : Holding
        The owner's data and its commitment.
    allow_code : collection of str, or "*"
        User code the owner agrees to run (see `select_for_query`).

    Returns
    -------
    Answer
        Its reply's arrays.
    """
    data = holding.data
    own = replace(query, exclude=holding.rows(query.exclude)) if len(query.exclude) else query
    picked = select_for_query(own, data, allow_code=allow_code)
    return Answer.of(
        holding.open(picked),
        holding.open(holding.rows(audit_positions_of(query, holding.commitment, data.y[picked]))),
        cluster_histogram(query, data),
    )


def audit_positions_of(query: Query, commitment: Commitment, picked_y: np.ndarray) -> np.ndarray:
    """The positions of the audit `query` asks for: `query.audit` rows drawn with its key from the
    commitment (`holding.audit_positions`), weighted as the owner's picks are over their classes
    (the trainer pays for those); none for no picks, or for an unbudgeted selector (whose reply is
    all of that data anyway).

    Parameters
    ----------
    query : Query
        The trainer's query (its audit size and key, selector).
    commitment : Commitment
        The owner's commitment.
    picked_y : numpy.ndarray
        The labels of the owner's picks.

    Returns
    -------
    numpy.ndarray
        Committed positions (int64), ascending.
    """
    if not query.audit or not make_selector(query.selector, **query.selector_params).budgeted:
        return np.empty(0, dtype=np.int64)
    return audit_positions(query.audit_key, commitment, label_counts(picked_y), query.audit)


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
    counts = np.zeros((len(classes), query.clusters.cells_per_class), dtype=np.int64)
    for start in range(0, len(mine), BATCH_ROWS):  # counts add up: one batch's features at a time
        part = mine[start : start + BATCH_ROWS]
        counts += query.clusters.histogram(embed(data.x[part]), data.y[part], classes)
    return counts
