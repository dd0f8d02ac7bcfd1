"""Private queries: no raw hard sample leaves the trainer, and owners select exactly as before."""

from __future__ import annotations

import numpy as np
import pytest
from flower_fakes import make_context, make_message

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.query import Query
from mycroft_fl.flower.client_app import app as client_app
from mycroft_fl.flower.protocol import query_content
from mycroft_fl.owner.answer import select_for_query
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.acquisition import strategy_query
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.strategy_config import resolve_strategy
from mycroft_fl.trainer.trainer import Trainer

METHODS = ["mycroft", "gradmatch", "retrieval", "random"]


@pytest.fixture(scope="module")
def setup():
    sc = load_scenario("digits")
    return sc, Trainer(sc.trainer_data(), sc.trainer, seed=0)


@pytest.mark.parametrize("method", METHODS)
def test_private_query_carries_no_hard_sample(setup, method):
    _, trainer = setup
    arrays = strategy_query(trainer, resolve_strategy(method, 16), private=True).to_arrays()
    assert "hard_x" not in arrays
    flat = trainer.hard_query.x.reshape(len(trainer.hard_query), -1)
    for name, array in arrays.items():
        rows = (
            np.asarray(array).reshape(-1, flat.shape[1])
            if np.asarray(array).size % flat.shape[1] == 0
            else None
        )
        if rows is not None and name != "embedder/mean" and name != "embedder/std":
            assert not any((rows == x).all(axis=1).any() for x in flat), name


@pytest.mark.parametrize("method", METHODS)
def test_owners_select_the_same_from_a_private_query(setup, method):
    sc, trainer = setup
    strategy = resolve_strategy(method, 16)
    raw, private = (
        strategy_query(trainer, strategy),
        strategy_query(trainer, strategy, private=True),
    )
    private = Query.from_parts(private.to_arrays(), private.to_config())  # as an owner receives it
    for owner in sc.owner_ids:
        data = sc.owner_data(owner)
        np.testing.assert_array_equal(
            select_for_query(raw, data), select_for_query(private, data), err_msg=owner
        )


def test_client_app_answers_a_private_query(setup):
    sc, trainer = setup
    query = strategy_query(trainer, resolve_strategy("mycroft", 8), private=True)
    reply = client_app(
        make_message(query_content(query, scenario=str(sc.path)), dst=7),
        make_context(7, {"partition-id": 0, "num-partitions": 5}),
    )
    assert "error" not in reply.content["info"]
    assert len(reply.content["subset"]["positions"].numpy()) == 8


def test_private_and_raw_give_the_same_ranking(setup):
    sc, trainer = setup
    strategy = resolve_strategy("mycroft", 16)
    reports = [
        acquire(trainer, sc.owners_data(), strategy, private=p, allow_revealing=p).to_dict()
        for p in (False, True)
    ]
    assert [(o["id"], o["rank"], o["utility"]) for o in reports[0]["owners"]] == [
        (o["id"], o["rank"], o["utility"]) for o in reports[1]["owners"]
    ]
    assert [r["private"] for r in reports] == [False, True]  # the report records a private run


def test_a_private_query_that_would_give_the_hard_samples_back_is_refused(setup):
    """digits' owners embed with `raw`: the embeddings of the hard samples and the standardiser sent
    with them give the samples back, so "private" would not be."""
    sc, trainer = setup
    with pytest.raises(
        InputError, match=r"reveals the hard samples: .*x = embedding \* std \+ mean"
    ):
        acquire(trainer, sc.owners_data(), resolve_strategy("mycroft", 16), private=True)
    # a selector that sends no embeddings reveals none: only per-class gradient sums
    report = acquire(trainer, sc.owners_data(), resolve_strategy("gradmatch", 16), private=True)
    revealed = report.to_dict()["disclosure"]
    assert revealed["private"] and revealed["standardiser"]  # the embedder's state still goes
    for counts in revealed["per_class"].values():
        assert counts["raw_samples"] == counts["embeddings"] == 0 and counts["gradient_sum"]


def test_the_report_says_what_each_query_revealed(setup):
    sc, trainer = setup
    raw = acquire(trainer, sc.owners_data(), resolve_strategy("mycroft", 16)).to_dict()
    n = {int(c): int((trainer.hard_query.y == c).sum()) for c in set(trainer.hard_query.y)}
    assert {int(c): v["raw_samples"] for c, v in raw["disclosure"]["per_class"].items()} == n
    allowed = acquire(
        trainer,
        sc.owners_data(),
        resolve_strategy("mycroft", 16),
        private=True,
        allow_revealing=True,
    ).to_dict()["disclosure"]
    assert allowed["revealing_embedder_allowed"] is True and allowed["private"] is True
    assert {int(c): v["embeddings"] for c, v in allowed["per_class"].items()} == n
    assert all(v["raw_samples"] == 0 for v in allowed["per_class"].values())
