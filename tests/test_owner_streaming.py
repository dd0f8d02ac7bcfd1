"""The owner's real path streams: candidates only, in batches of rows, gradient matching one hard class
at a time; it selects what the whole-owner computation selects, and reads the owner's data by rows
(a memory map will do)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.embedders import make_embedder
from mycroft_fl.core.models import features_and_logits, set_weights
from mycroft_fl.core.query import Query
from mycroft_fl.owner import answer
from mycroft_fl.owner.answer import cluster_histogram, hard_view, select_for_query
from mycroft_fl.owner.gradients import factors_in_batches
from mycroft_fl.owner.selectors import HardView, OwnerView, make_selector
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.acquisition import strategy_query
from mycroft_fl.trainer.ecoval import fit_clusters
from mycroft_fl.trainer.strategy_config import StrategyConfig
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.valuers import Retrain

SELECTORS = [
    ("mycroft", {}),
    ("mycroft", {"anchor": "geometric-median", "ensemble": 3}),
    ("gradmatch", {"ensemble": 2}),
    ("retrieval", {}),
    ("random", {}),
]


@pytest.fixture(scope="module")
def setup():
    sc = load_scenario("digits")
    return sc, Trainer(sc.trainer_data(), sc.trainer, seed=1)


def _query(trainer: Trainer, method: str, params: dict, *, private: bool = False) -> Query:
    strategy = StrategyConfig(method, make_selector(method, **params), Retrain(), budget=17)
    query = strategy_query(trainer, strategy, private=private)
    return Query.from_parts(query.to_arrays(), query.to_config())  # as an owner receives it


def _all_at_once(query: Query, data: Dataset) -> np.ndarray:
    """The selection as owners made it before streaming: every candidate embedded and given gradients
    at once, every hard class in one call of the selector."""
    selector = make_selector(query.selector, **query.selector_params)
    model = set_weights(query.model.build(), query.weights)
    candidates = np.flatnonzero(np.isin(data.y, np.unique(query.hard_y)))
    candidates = candidates[~np.isin(candidates, query.exclude)]
    x, y = data.x[candidates], data.y[candidates]
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
        selector.gradients(model, x, y, seed=query.seed) if selector.needs_gradients else None
    )
    owner = OwnerView(y=y, embeddings=None if embed is None else embed(x), gradients=gradients)
    return candidates[selector.select(owner, hard, query.budget, seed=query.seed)]


@pytest.mark.parametrize("private", [False, True])
@pytest.mark.parametrize(("method", "params"), SELECTORS)
def test_streamed_in_small_batches_selects_as_all_at_once(
    setup, monkeypatch, method, params, private
):
    sc, trainer = setup
    monkeypatch.setattr(answer, "BATCH_ROWS", 7)  # several batches in every hard class
    query = _query(trainer, method, params, private=private)
    for owner in sc.owner_ids[:3]:
        data = sc.owner_data(owner)
        sent = _all_at_once(query, data)[:5]  # as a later round would exclude them
        for q in (query, replace(query, exclude=sent)):
            picks = select_for_query(q, data)
            assert len(picks) and not np.isin(picks, q.exclude).any()
            np.testing.assert_array_equal(picks, _all_at_once(q, data), err_msg=owner)


def test_owner_data_may_be_a_memory_map(setup, tmp_path):
    sc, trainer = setup
    data = sc.owner_data(sc.owner_ids[0])
    np.save(tmp_path / "x.npy", data.x)
    mapped = Dataset(np.load(tmp_path / "x.npy", mmap_mode="r"), data.y)
    query = _query(trainer, "mycroft", {})
    np.testing.assert_array_equal(select_for_query(query, mapped), select_for_query(query, data))


def test_features_logits_and_factors_in_batches_are_the_whole(setup):
    sc, trainer = setup
    data = sc.owner_data(sc.owner_ids[0])
    h, z = features_and_logits(trainer.baseline, data.x)
    h5, z5 = features_and_logits(trainer.baseline, data.x, batch_size=5)
    np.testing.assert_allclose(h5, h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(z5, z, rtol=1e-6, atol=1e-6)
    for params in ({}, {"ensemble": 3}):
        selector = make_selector("gradmatch", **params)
        whole = selector.gradients(trainer.baseline, data.x, data.y, seed=4)
        batched = factors_in_batches(
            lambda rows, s=selector: s.gradients(
                trainer.baseline, data.x[rows], data.y[rows], seed=4
            ),
            len(data),
            6,
        )
        assert type(batched) is type(whole) and batched.p.shape == whole.p.shape
        np.testing.assert_allclose(batched.p, whole.p, atol=1e-6)
        np.testing.assert_allclose(batched.h, whole.h, atol=1e-6)


def test_cluster_histogram_counts_the_same_in_batches(setup, monkeypatch):
    sc, trainer = setup
    centres = fit_clusters(trainer.features(trainer.data.train.x), 4, 2.0, seed=3)
    query = replace(_query(trainer, "mycroft", {}), clusters=centres)
    data = sc.owner_data(sc.owner_ids[0])
    whole = cluster_histogram(query, data)
    monkeypatch.setattr(answer, "BATCH_ROWS", 5)
    np.testing.assert_array_equal(cluster_histogram(query, data), whole)
    assert whole.sum() == np.isin(data.y, query.hard_y).sum()
