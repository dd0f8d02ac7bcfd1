"""Owners who cheat (simulations/hostile.toml): each attack is met by a defence, and the honest owners
keep their order."""

from __future__ import annotations

import pytest

from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.strategy_config import resolve_strategy
from mycroft_fl.trainer.trainer import Trainer

HONEST = ["specialist", "generalist", "sparse", "unrelated"]


@pytest.fixture(scope="module", params=[0, 1])
def report(request):
    sc = load_scenario("hostile")
    trainer = Trainer(sc.trainer_data(), sc.trainer, seed=request.param)
    return acquire(
        trainer,
        sc.owners_data(),
        resolve_strategy("mycroft", 16),
        behaviours={o.id: o.behaviour for o in sc.owners},
    )


@pytest.fixture(scope="module")
def owners(report):
    return {o["id"]: o for o in report.to_dict()["owners"]}


def rank(o):
    return float("inf") if o["rank"] is None else o["rank"]


def test_honest_owners_keep_their_order(owners):
    ranks = [owners[i]["rank"] for i in HONEST]
    assert ranks == sorted(ranks) and ranks[0] == 1
    assert not any(owners[i]["harmful"] for i in HONEST)


def test_replayed_hard_samples_are_dropped_and_earn_nothing(owners):
    o = owners["replayer"]
    audited = o["label_audit"]["samples"] if o["label_audit"] else 0  # its random sample, apart
    assert o["received"] == 16 + audited and o["replayed"] == 16 and o["shared"] == 0
    assert o["utility"] == 0
    assert all(rank(o) > owners[i]["rank"] for i in ("specialist", "generalist", "sparse"))


def test_flipping_labels_toward_the_hard_classes_is_harmful_and_ranked_last(owners):
    o = owners["flipper"]
    assert (
        o["harmful"]
        and o["other_accuracy_drop"] > 0
        and "its data contradicts the trainer's" in o["harm_reason"]
    )
    assert (
        o["label_agreement"] < o["label_agreement_expected"] / 2
    )  # other digits' images labelled 8 or 9
    assert all(rank(o) > owners[i]["rank"] for i in HONEST)


def test_out_of_domain_values_are_rejected(owners):
    o = owners["out-of-domain"]
    assert (
        o["status"] == "rejected"
        and "outside the reference range" in o["reason"]
        and o["rank"] is None
    )
    assert o["received"] == 16 + 32 and o["shared"] == 0  # its picks and its audit sample


def test_padding_with_copies_is_rejected(owners):
    o = owners["padder"]
    assert (
        o["status"] == "rejected"
        and "repeat another sample exactly" in o["reason"]
        and o["rank"] is None
    )


def test_without_the_defences_every_cheater_is_valued_and_ranked():
    """What the defences change (TrainerConfig(defences=False) checks only a reply's form): the replayer is
    credited for the trainer's own samples, the flipper is not flagged, out-of-domain and padded replies
    are accepted."""
    import dataclasses

    sc = load_scenario("hostile")
    trainer = Trainer(sc.trainer_data(), dataclasses.replace(sc.trainer, defences=False), seed=0)
    report = acquire(
        trainer,
        sc.owners_data(),
        resolve_strategy("mycroft", 16),
        behaviours={o.id: o.behaviour for o in sc.owners},
    )
    got = {o["id"]: o for o in report.to_dict()["owners"]}
    assert all(o["status"] == "ok" and not o["harmful"] for o in got.values()), got
    assert (
        got["replayer"]["replayed"] == 0
        and got["replayer"]["shared"] == 16
        and got["replayer"]["utility"] > 0
    )
    assert (
        got["replayer"]["rank"] < got["sparse"]["rank"]
    )  # credited for the trainer's own hard samples
    assert got["flipper"]["rank"] < got["unrelated"]["rank"]  # its hard-sample gains count in full
    assert got["out-of-domain"]["shared"] == 16 and got["padder"]["shared"] == 16


def test_the_report_names_the_replaying_owner(report):
    table, md = report.table(), report.markdown()
    assert "replayer (16 replayed)" in table
    assert (
        "`replayer` is a replayer: 16 of the samples it sent are the trainer's own hard query samples"
        in md
    )
