"""The trainer's check of one owner's reply in-process (`collect_reply`): what it counts as exposed."""

import numpy as np
import pytest

from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import collect_reply
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig


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
    result = collect_reply("a", config, trainer, x, y, idx, audit_x=x[:3], audit_y=y[:3, 0])
    assert result.status == "rejected" and result.received == 6 + 3 and result.shared == 0


def test_a_reply_without_the_audit_it_was_asked_for_is_rejected(trainer):
    config = load_strategy("mycroft", budget=8)
    x, y, idx = reply(trainer, 4)
    result = collect_reply("a", config, trainer, x, y, idx)
    assert result.status == "rejected"
    assert result.reason == "audit sample: missing (the query asked for 32 random samples)"
    ok = collect_reply("a", config, trainer, x, y, idx, audit_x=x, audit_y=y)
    assert ok.status == "ok" and ok.received == 8 and len(ok.audit) == 4 and ok.shared == 4
