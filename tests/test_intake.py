"""The trainer's check of one owner's reply (`intake.take_reply`): what it counts as exposed, and the
audit it asks for."""

import numpy as np
import pytest

from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.intake import take_reply
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig
from mycroft_fl.trainer.transport import Reply


@pytest.fixture(scope="module")
def trainer():
    sc = load_scenario("digits")
    return Trainer(sc.trainer_data(), TrainerConfig(model="logreg", embedder="raw"), seed=0)


def reply(trainer, n, *, y_shape=None):
    hard = trainer.hard_query
    x = hard.x[:n] + 0.5
    y = hard.y[:n] if y_shape is None else np.zeros(y_shape, np.int64)
    return x, y, np.arange(n, dtype=np.int64)


def test_a_rejected_reply_counts_every_sample_that_left_the_owner(trainer):
    config = load_strategy("mycroft", budget=8)
    x, y, idx = reply(
        trainer, 6, y_shape=(6, 2)
    )  # y is 2-d: rejected, yet six samples left the owner
    sent = Reply("a", x, y, idx, audit_x=x[:3], audit_y=y[:3, 0])
    result = take_reply(sent, config, trainer, audit=32)
    assert result.status == "rejected" and result.received == 6 + 3 and result.shared == 0


def test_a_reply_without_the_audit_it_was_asked_for_is_rejected(trainer):
    config = load_strategy("mycroft", budget=8)
    x, y, idx = reply(trainer, 4)
    result = take_reply(Reply("a", x, y, idx), config, trainer, audit=32)
    assert result.status == "rejected"
    assert result.reason == "audit sample: missing (the query asked for 32 random samples)"
    ok = take_reply(Reply("a", x, y, idx, audit_x=x, audit_y=y), config, trainer, audit=32)
    assert ok.status == "ok" and ok.received == 8 and len(ok.audit) == 4 and ok.shared == 4


def test_an_audit_sample_nobody_asked_for_is_rejected(trainer):
    config = load_strategy("mycroft", budget=8)
    x, y, idx = reply(trainer, 4)
    result = take_reply(Reply("a", x, y, idx, audit_x=x, audit_y=y), config, trainer, audit=0)
    assert result.status == "rejected" and "audit sample: 4 samples exceed" in result.reason
    empty = Reply("a", x, y, idx, audit_x=x[:0], audit_y=y[:0])
    assert take_reply(empty, config, trainer, audit=0).status == "ok"
