"""The trainer's check of one owner's reply (`intake.take_reply`): what it counts as exposed, and what
an owner must open against the commitment it made before the query."""

from dataclasses import replace

import numpy as np
import pytest

from mycroft_fl.owner.answer import answer_query, audit_positions_of
from mycroft_fl.owner.holding import Holding
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.acquisition import strategy_query
from mycroft_fl.trainer.intake import take_reply
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig
from mycroft_fl.trainer.transport import Reply

CONFIG = load_strategy("mycroft", budget=8)


@pytest.fixture(scope="module")
def trainer():
    sc = load_scenario("digits")
    config = TrainerConfig(model="logreg", embedder="raw", hard_classes=(8, 9))
    return Trainer(sc.trainer_data(), config, seed=0)


@pytest.fixture(scope="module")
def owner():
    return load_scenario("digits").owner_data("specialist")


@pytest.fixture(scope="module")
def query(trainer):
    return replace(strategy_query(trainer, CONFIG), audit_key=12345)


def honest(query, data) -> tuple[Reply, Holding]:
    holding = Holding(data, 10)
    sent = answer_query(query, holding)
    return Reply("a", **sent._asdict(), local_size=len(data)), holding


def take(reply, holding, query, trainer):
    return take_reply(reply, CONFIG, trainer, commitment=holding.commitment, query=query)


def test_an_honest_reply_opens_and_is_taken(trainer, owner, query):
    reply, holding = honest(query, owner)
    result = take(reply, holding, query, trainer)
    assert result.status == "ok", result.reason
    assert result.shared == len(reply.x) and len(result.audit) == 32
    assert result.received == len(reply.x) + 32 and result.local_size == len(owner)


def test_a_rejected_reply_counts_every_sample_that_left_the_owner(trainer, owner, query):
    reply, holding = honest(query, owner)
    bad = replace(reply, y=np.zeros((len(reply.y), 2), np.int64))  # y is 2-d: rejected
    result = take(bad, holding, query, trainer)
    assert result.status == "rejected" and result.shared == 0
    assert result.received == len(reply.x) + 32  # yet its picks and its audit left the owner


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda r: replace(r, audit_x=None, audit_y=None), "audit: missing"),
        (
            lambda r: replace(r, audit_positions=r.audit_positions[::-1] + 1),
            "audit: opened 32 rows other than the 32 the trainer drew",
        ),
        (
            lambda r: replace(
                r, audit_y=17 - r.audit_y
            ),  # 8s shown as 9s: not what it committed to
            "audit: does not open",
        ),
        (
            lambda r: replace(r, x=r.x + np.float32(0.25)),
            "picks do not open against its commitment",
        ),
        (lambda r: replace(r, proofs=r.proofs[::-1]), "picks do not open against its commitment"),
        (lambda r: replace(r, local_size=119), "declared 119 samples but committed to 120"),
    ],
)
def test_what_does_not_open_against_the_commitment_is_rejected(
    trainer, owner, query, change, reason
):
    reply, holding = honest(query, owner)
    result = take(change(reply), holding, query, trainer)
    assert result.status == "rejected" and reason in result.reason


def test_rows_of_another_data_set_do_not_open(trainer, owner, query):
    """An owner that commits to one data set and answers from another (`switch`)."""
    _, committed = honest(query, owner)
    other = replace(owner, x=owner.x + np.float32(0.01))
    reply, _ = honest(query, other)
    result = take(reply, committed, query, trainer)
    assert result.status == "rejected" and "does not open" in result.reason


def test_the_audit_draws_what_the_trainer_pays_for_and_the_key_decides_it(owner, query):
    commitment = Holding(owner, 10).commitment
    picked_y = np.array([8] * 12 + [9] * 4)  # the picks' classes, in their proportion
    drawn = audit_positions_of(query, commitment, picked_y)
    classes = commitment.class_of(drawn)
    assert len(drawn) == 32 and np.sum(classes == 8) == 24 and np.sum(classes == 9) == 8
    only_nines = commitment.class_of(audit_positions_of(query, commitment, np.array([9] * 5)))
    assert set(only_nines) == {9}
    again = audit_positions_of(query, commitment, picked_y)
    other = audit_positions_of(replace(query, audit_key=54321), commitment, picked_y)
    assert np.array_equal(drawn, again) and not np.array_equal(drawn, other)
    assert len(audit_positions_of(query, commitment, np.empty(0, np.int64))) == 0


def test_an_audit_sample_nobody_asked_for_is_rejected(trainer, owner, query):
    reply, holding = honest(replace(query, audit=0), owner)
    assert take(reply, holding, replace(query, audit=0), trainer).status == "ok"
    padded, _ = honest(query, owner)  # it sends the 32 rows a query with an audit would draw
    result = take(padded, holding, replace(query, audit=0), trainer)
    assert (
        result.status == "rejected" and "audit: 32 samples exceed the budget of 0" in result.reason
    )
