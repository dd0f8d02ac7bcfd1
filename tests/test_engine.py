"""The acquisition engine's own rules: a run that cannot value its owners does not look like a
success, and what an owner could not do is recorded, not silently capped."""

from __future__ import annotations

import numpy as np
import pytest

from mycroft_fl.core.errors import InputError
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer


@pytest.fixture(scope="module")
def digits():
    sc = load_scenario("digits")
    return Trainer(sc.trainer_data(), sc.trainer, seed=0), sc.owners_data()


def test_more_than_half_of_the_owners_failing_is_a_warning_in_the_report(digits):
    trainer, owners = digits
    failing = dict.fromkeys(list(owners)[:3], "no-such-behaviour")
    report = acquire(trainer, owners, load_strategy("mycroft", budget=8), behaviours=failing)
    d = report.to_dict()
    assert [o["status"] for o in d["owners"]].count("failed") == 3
    assert d["warnings"] == [
        "3 of 5 owners failed (see their reasons): the ranking is of the others only"
    ]
    assert "Warning: 3 of 5 owners failed" in report.markdown()


def test_every_owner_failing_for_one_reason_is_the_trainers_error(digits):
    trainer, owners = digits
    failing = dict.fromkeys(owners, "no-such-behaviour")
    with pytest.raises(InputError, match=r"every owner failed \(5 of them\): .*no-such-behaviour"):
        acquire(trainer, owners, load_strategy("mycroft", budget=8), behaviours=failing)


def test_a_budget_larger_than_an_owners_data_is_recorded(digits):
    trainer, owners = digits
    small = owners["specialist"].subset(np.arange(10))
    report = acquire(
        trainer, {"small": small, "generalist": owners["generalist"]}, load_strategy("mycroft")
    )
    d = {o["id"]: o for o in report.to_dict()["owners"]}
    sent = d["small"]["received"] - (d["small"]["label_audit"] or {}).get("samples", 0)
    assert d["small"]["notes"] == [
        f"the budget of 32 exceeds the 10 samples it holds; it sent {sent}"
    ]
    assert "notes" not in d["generalist"]
