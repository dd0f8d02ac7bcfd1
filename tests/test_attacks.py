"""Owners who cheat (simulations/hostile.toml): each attack is met by a defence, and the honest owners
keep their order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from flower_fakes import FakeGrid, task_identity  # noqa: F401 (autouse)

from mycroft_fl.core.data import Dataset
from mycroft_fl.flower.client_app import app as client_app
from mycroft_fl.flower.strategy import MycroftStrategy
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.strategy_config import resolve_strategy
from mycroft_fl.trainer.trainer import Trainer

HONEST = ["generalist", "sparse", "unrelated"]  # honest, and nobody copied them
CHEATERS_REJECTED = {
    "replayer": "picks do not open against its commitment",
    "out-of-domain": "outside the reference range",
    "padder": "repeat another sample exactly",
    "clean-audit": "audit: opened 32 rows other than the 32 the trainer drew",
    "switch": "picks do not open against its commitment",
}


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("hostile")


@pytest.fixture(scope="module", params=[0, 1])
def report(request, scenario):
    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=request.param)
    return acquire(
        trainer,
        scenario.owners_data(),
        resolve_strategy("mycroft", 16),
        behaviours={o.id: o.behaviour for o in scenario.owners},
    )


@pytest.fixture(scope="module")
def owners(report):
    return {o["id"]: o for o in report.to_dict()["owners"]}


def rank(o):
    return float("inf") if o["rank"] is None else o["rank"]


def test_honest_owners_keep_their_order(owners):
    ranks = [owners[i]["rank"] for i in ["specialist", *HONEST]]
    assert ranks[1:] == sorted(ranks[1:]) and not any(owners[i]["harmful"] for i in HONEST)
    assert owners["specialist"]["rank"] < owners["sparse"]["rank"]


@pytest.mark.parametrize("cheater", sorted(CHEATERS_REJECTED))
def test_cheaters_in_what_they_send_are_rejected_with_the_reason(owners, cheater):
    o = owners[cheater]
    assert o["status"] == "rejected" and CHEATERS_REJECTED[cheater] in o["reason"]
    assert o["rank"] is None and o["shared"] == 0 and o["received"] > 0  # what left it, counted


def test_flipping_labels_toward_the_hard_classes_is_harmful_and_ranked_last(owners):
    o = owners["flipper"]
    assert o["harmful"] and "its data contradicts the trainer's" in o["harm_reason"]
    assert o["unbought"] > 0 and o["shared"] < o["unbought"]  # its 8s and 9s are not bought
    assert o["label_agreement"] < o["label_agreement_expected"] / 2  # other digits labelled 8, 9
    assert all(rank(o) > owners[i]["rank"] for i in HONEST)


def test_a_copy_and_its_original_share_the_worth_of_what_both_sent(owners, report):
    original, twin = owners["specialist"], owners["twin"]
    assert original["credit"] < 0.6 and twin["credit"] < 0.6  # most samples: sent twice
    together = original["value"] + twin["value"]
    assert together <= original["utility"] * 1.1  # no more than the original alone, within noise
    combined = report.combined["owners"]
    assert not {"specialist", "twin"} <= set(combined)  # never both
    assert len(combined) == 3  # a distinct owner takes the copy's place


def test_near_copies_within_an_owners_picks_count_once(scenario, owners):
    o = owners["pad-near"]
    held = scenario.owner_data("sparse")  # pad-near holds as many real 8s and 9s as sparse
    assert o["near_copies"] > 0
    assert o["shared"] <= np.isin(held.y, [8, 9]).sum()  # what is left: its real 8s and 9s


def test_without_the_defences_every_cheater_is_valued_and_ranked(scenario):
    """What the defences change (TrainerConfig(defences=False) checks only a reply's form): the replayer is
    credited for the trainer's own samples, the flipper is not flagged, out-of-domain and padded replies
    are accepted, no opening is checked, copies are paid twice."""
    trainer = Trainer(
        scenario.trainer_data(), dataclasses.replace(scenario.trainer, defences=False), seed=0
    )
    report = acquire(
        trainer,
        scenario.owners_data(),
        resolve_strategy("mycroft", 16),
        behaviours={o.id: o.behaviour for o in scenario.owners},
    )
    got = {o["id"]: o for o in report.to_dict()["owners"]}
    assert all(o["status"] == "ok" and not o["harmful"] for o in got.values()), got
    assert got["replayer"]["replayed"] == 0 and got["replayer"]["shared"] == 16
    assert got["replayer"]["utility"] > 0
    assert got["replayer"]["rank"] < got["sparse"]["rank"]  # credited for the trainer's own samples
    assert got["flipper"]["rank"] < got["unrelated"]["rank"]  # its hard-sample gains count in full
    assert got["out-of-domain"]["shared"] > 0 and got["padder"]["shared"] == 16
    assert got["twin"]["credit"] == got["specialist"]["credit"] == 1.0


def test_an_owner_holding_the_trainers_hard_samples_is_not_paid_for_them(scenario):
    """An owner whose data happens to hold copies of the trainer's hard query samples (public data
    both hold) commits to them and opens them; they are dropped as replays and earn nothing."""
    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=0)
    hard = trainer.hard_query
    public = Dataset.concat([hard, scenario.owner_data("unrelated")])
    report = acquire(trainer, {"public": public}, resolve_strategy("mycroft", 16))
    o = report.to_dict()["owners"][0]
    assert o["status"] == "ok" and o["replayed"] > 0 and o["shared"] == 0 and o["utility"] == 0
    assert f"{o['replayed']} replayed" in report.table()
    assert "`public` is a replayer" in report.markdown()


def test_through_the_flower_transport_every_owner_fares_as_in_process(scenario, report):
    """The same owners as Flower nodes (the ClientApp on an in-process Grid, each owner scripted by
    its scenario `behaviour`): commitments, openings and audits travel as Flower records, and every
    owner ends with the status, reason, rank and harm flag the in-process run gave it."""
    n = len(scenario.owners)
    configs = {100 + i: {"partition-id": i, "num-partitions": n} for i in range(n)}
    grid = FakeGrid({node: client_app for node in configs}, configs)
    seed = report.to_dict()["seed"]
    flower = MycroftStrategy(
        scenario.trainer_data(),
        strategy="mycroft",
        budget=16,
        seed=seed,
        trainer=scenario.trainer,
        owners=scenario.owner_ids,
        scenario=str(scenario.path),
        wait_timeout=0.5,
        reply_timeout=60.0,
        poll_interval=0.01,
    ).run(grid)

    def fate(r):
        return {
            o["id"]: (o["status"], o.get("reason"), o["rank"], o.get("harmful"))
            for o in r.to_dict()["owners"]
        }

    assert fate(flower) == fate(report)
    assert flower.combined["owners"] == report.combined["owners"]


@pytest.mark.parametrize("seed", [0, 1])
def test_padding_with_near_copies_is_worth_what_the_real_samples_are(scenario, seed):
    """`pad-near` is valued as the same owner holding only its real samples (its behaviour honest):
    the near-copies count once, so the padding adds nothing to its utility, within training noise."""
    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=seed)
    honest = dataclasses.replace(
        scenario,
        owners=[
            dataclasses.replace(o, behaviour="honest") if o.id == "pad-near" else o
            for o in scenario.owners
        ],
    )
    utility = {}
    for which, sc in (("padded", scenario), ("real", honest)):
        owners = {i: sc.owner_data(i) for i in ("specialist", "sparse", "pad-near")}
        report = acquire(trainer, owners, resolve_strategy("mycroft", 16))
        got = {o["id"]: o for o in report.to_dict()["owners"]}["pad-near"]
        utility[which] = got["utility"]
        if which == "padded":
            assert got["near_copies"] > 0
        else:
            assert got["near_copies"] == 0
    assert utility["padded"] <= utility["real"] + 0.1, utility  # one hard sample is ~0.03
