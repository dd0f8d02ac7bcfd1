"""Dropout ensembles for gradient matching (selector option `ensemble`): K = 1 is the plain gradient
matching bit for bit; K > 1 averages every gradient over K seeded dropout masks of the features."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.embedders import make_embedder
from mycroft_fl.core.models import Classifier, features_and_logits, set_weights
from mycroft_fl.core.query import Query
from mycroft_fl.owner.answer import select_for_query
from mycroft_fl.owner.gradients import EnsembleGradients, last_layer_factors
from mycroft_fl.owner.selectors import HardView, OwnerView, make_selector
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.acquisition import strategy_query
from mycroft_fl.trainer.strategy_config import StrategyConfig
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.valuers import Retrain

METHODS = ["gradmatch", "mycroft"]


@pytest.fixture(scope="module")
def setup():
    sc = load_scenario("digits")
    return sc, Trainer(sc.trainer_data(), sc.trainer, seed=1)


def _query(trainer: Trainer, method: str, *, private: bool = False, **params) -> Query:
    strategy = StrategyConfig(method, make_selector(method, **params), Retrain(), budget=12)
    query = strategy_query(trainer, strategy, private=private)
    return Query.from_parts(query.to_arrays(), query.to_config())  # as an owner receives it


def _plain_picks(query: Query, data: Dataset) -> np.ndarray:
    """The selection as it was before ensembles: gradients straight from the model's logits."""
    selector = make_selector(query.selector, **query.selector_params)
    model = set_weights(query.model.build(), query.weights)
    candidates = np.flatnonzero(np.isin(data.y, np.unique(query.hard_y)))
    if len(candidates) == 0:
        return candidates
    hard = last_layer_factors(*features_and_logits(model, query.hard_x), query.hard_y)
    targets = {int(c): hard[query.hard_y == c].total() for c in np.unique(query.hard_y)}
    owner = last_layer_factors(*features_and_logits(model, data.x[candidates]), data.y[candidates])
    embeddings = None
    if selector.needs_embeddings:
        embed = make_embedder(query.embedder, query.embedder_state, model)
        embeddings = (embed(data.x[candidates]), embed(query.hard_x))
    view = OwnerView(data.y[candidates], None if embeddings is None else embeddings[0], owner)
    hard_view = HardView(query.hard_y, None if embeddings is None else embeddings[1], targets)
    return candidates[selector.select(view, hard_view, query.budget, seed=query.seed)]


@pytest.mark.parametrize("method", METHODS)
def test_one_mask_is_todays_selection_bit_for_bit(setup, method):
    sc, trainer = setup
    for owner in sc.owner_ids:
        data = sc.owner_data(owner)
        picks = select_for_query(_query(trainer, method, ensemble=1, dropout=0.3), data)
        np.testing.assert_array_equal(picks, _plain_picks(_query(trainer, method), data))
        np.testing.assert_array_equal(picks, select_for_query(_query(trainer, method), data))


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_picks_and_private_queries_select_the_same(setup, method):
    sc, trainer = setup
    query = _query(trainer, method, ensemble=4)
    private = _query(trainer, method, ensemble=4, private=True)
    reseeded = replace(query, seed=7)
    differs = False
    for owner in sc.owner_ids:
        data = sc.owner_data(owner)
        picks = select_for_query(query, data)
        np.testing.assert_array_equal(picks, select_for_query(query, data), err_msg=owner)
        np.testing.assert_array_equal(picks, select_for_query(private, data), err_msg=owner)
        differs |= not np.array_equal(picks, select_for_query(reseeded, data))
    assert differs  # other masks, other picks somewhere


def test_ensemble_gradients_come_from_the_model_through_masks(setup):
    sc, trainer = setup
    data = sc.owner_data(sc.owner_ids[0])
    selector = make_selector("gradmatch", ensemble=3, dropout=0.2)
    grads = selector.gradients(trainer.baseline, data.x[:20], data.y[:20], seed=5)
    assert isinstance(grads, EnsembleGradients) and grads.p.shape[:2] == (3, 20)
    features, logits = features_and_logits(trainer.baseline, data.x[:20])
    np.testing.assert_array_equal(grads.h, features)
    no_dropout = make_selector("gradmatch", ensemble=3, dropout=0.0)
    plain = last_layer_factors(features, logits, data.y[:20])
    for p in no_dropout.gradients(trainer.baseline, data.x[:20], data.y[:20], seed=5).p:
        np.testing.assert_allclose(p, plain.p, atol=1e-5)


def test_a_head_without_bias_is_a_zero_bias():
    torch.manual_seed(0)
    model = Classifier(torch.nn.Flatten(), torch.nn.Linear(4, 3, bias=False))
    x, y = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32), np.arange(6) % 3
    grads = make_selector("gradmatch", ensemble=2, dropout=0.0).gradients(model, x, y, seed=1)
    plain = last_layer_factors(*features_and_logits(model, x), y)
    for p in grads.p:
        np.testing.assert_allclose(p, plain.p, atol=1e-6)
