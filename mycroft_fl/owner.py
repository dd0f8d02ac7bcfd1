"""The owner's side of a query: embed and compute gradients with the trainer's model, then select."""

from __future__ import annotations

import numpy as np

from .data import Dataset
from .embedders import make_embedder
from .gradmatch import last_layer_gradients
from .models import features_and_logits, set_weights
from .query import Query
from .selection import HardView, OwnerView, select

_NEEDS_GRADIENTS = ("mycroft", "gradmatch")
_NEEDS_EMBEDDINGS = ("mycroft", "retrieval")


def select_for_query(query: Query, data: Dataset) -> np.ndarray:
    """Indices of the owner's samples to share for `query` (at most its budget, except full information)."""
    model = set_weights(query.model.build(), query.weights)
    hard_classes = np.unique(query.hard_y)
    candidates = np.flatnonzero(np.isin(data.y, hard_classes))
    if len(candidates) == 0:
        return candidates
    owner_x, owner_y = data.x[candidates], data.y[candidates]
    gradients = targets = owner_emb = hard_emb = None
    if query.method in _NEEDS_GRADIENTS:
        gradients = last_layer_gradients(*features_and_logits(model, owner_x), owner_y)
        hard_gradients = last_layer_gradients(*features_and_logits(model, query.hard_x), query.hard_y)
        targets = {int(c): hard_gradients[query.hard_y == c].sum(axis=0) for c in hard_classes}
    if query.method in _NEEDS_EMBEDDINGS:
        embed = make_embedder(query.embedder, query.embedder_state, model)
        owner_emb, hard_emb = embed(owner_x), embed(query.hard_x)
    picked = select(
        query.method,
        OwnerView(y=owner_y, embeddings=owner_emb, gradients=gradients),
        HardView(y=query.hard_y, embeddings=hard_emb, targets=targets),
        query.budget, seed=query.seed, ridge=query.ridge, penalty=query.penalty,
    )
    return candidates[picked]
