"""The harm rule on hand-made paired outcomes: damage to unseen validation samples beyond noise without a
net gain, or an audit of random samples whose labels look mostly wrong; and, on digits, with or without
named hard classes, that honest data in bulk is not harmful while flipped labels are."""

from __future__ import annotations

import numpy as np
import pytest

from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trust.harm import LabelAudit, PairedChange, judge_harm, wilson

CLEAN = LabelAudit(agreeing=29, n=32, clean=0.9, wrong=0.01)
FLIPPED = LabelAudit(agreeing=6, n=32, clean=0.9, wrong=0.01)


def change(lost: int, gained: int, size: int = 1000) -> PairedChange:
    return PairedChange(lost, gained, size)


def test_paired_change_counts_lost_and_gained_samples_of_the_mask():
    control = np.array([1, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    new = np.array([1, 0, 0, 1, 0, 0, 0, 1], dtype=bool)
    mask = np.array([1, 1, 1, 1, 1, 1, 0, 0], dtype=bool)  # the last two are outside
    c = PairedChange.of(control, new, mask)
    assert (c.lost, c.gained, c.size) == (2, 1, 6) and c.drop == pytest.approx(1 / 6)


def test_mcnemar_thresholds_at_three_standard_deviations():
    # lost - gained > 3 * sqrt(lost + gained): 20 - 5 = 15 > 3 * 5 = 15 is not, 21 - 5 = 16 > 15.3 is
    assert not change(20, 5).loss_beyond_noise() and change(21, 5).loss_beyond_noise()
    assert change(5, 21).gain_beyond_noise() and not change(21, 5).gain_beyond_noise()


def test_a_net_loss_beyond_noise_on_held_out_validation_data_is_harmful():
    reason = judge_harm(change(40, 5, 367), CLEAN)
    assert reason == (
        "makes the model worse on 35 net of the trainer's 367 held-out validation samples "
        "(lost 40, gained 5; beyond noise at z = 3)"
    )


def test_easy_samples_lost_to_more_hard_ones_fixed_is_a_trade_not_harm():
    # an honest owner's bulk of the hard classes: 10 easy samples lost, 24 hard ones fixed
    assert judge_harm(change(10, 24, 367), CLEAN) is None
    assert judge_harm(change(20, 12, 367), CLEAN) is None  # a net loss within noise


def test_an_audit_whose_labels_look_mostly_wrong_is_harmful_whatever_the_damage():
    reason = judge_harm(change(4, 6), FLIPPED)
    assert (
        "its data contradicts the trainer's: 6 of 32 randomly drawn samples get their label"
        in reason
    )
    assert "clean data of these classes gets 0.90: about 80% (" in reason
    assert judge_harm(change(6, 4), CLEAN) is None  # noise, with plausible labels
    assert judge_harm(change(6, 4), None) is None  # no audit, no label verdict


def test_an_audit_is_mislabelled_when_its_agreement_is_far_below_clean_and_below_the_midpoint():
    # clean 0.8, wrong 0.0: midpoint 0.4; three standard errors at n = 32: 3 * sqrt(0.8 * 0.2 / 32) = 0.21
    assert LabelAudit(12, 32, 0.8, 0.0).mislabelled  # 0.375: below the midpoint, 0.425 below clean
    assert not LabelAudit(13, 32, 0.8, 0.0).mislabelled  # 0.406: not most labels wrong
    assert not LabelAudit(1, 4, 0.8, 0.0).mislabelled  # 0.25 from four samples: within chance (0.6)
    assert not LabelAudit(0, 32, 0.5, 0.5).mislabelled  # the vote cannot tell clean from wrong
    assert not LabelAudit(0, 0, 0.9, 0.0).mislabelled


def test_wilson_interval_of_a_rate():
    low, high = wilson(8, 32, 1.645)
    assert low == pytest.approx(0.1470, abs=1e-3) and high == pytest.approx(0.3920, abs=1e-3)
    assert wilson(0, 0, 1.645) == (0.0, 1.0)
    fraction, lo, hi = LabelAudit(8, 32, 0.9, 0.0).wrong_fraction()
    assert fraction == pytest.approx((0.9 - 0.25) / 0.9) and lo < fraction < hi


@pytest.fixture(scope="module")
def full_information_digits():
    sc = load_scenario("digits")
    trainer = Trainer(sc.trainer_data(), sc.trainer, seed=0)
    report = acquire(trainer, sc.owners_data(), load_strategy("full-information"))
    return {o["id"]: o for o in report.to_dict()["owners"]}


def test_honest_bulk_of_the_hard_classes_ranks_first_and_flipped_labels_last(
    full_information_digits,
):
    owners = full_information_digits
    # the specialist's 60 clean 8s and 9s cost the other digits some accuracy (the model leans towards 8 and 9)
    # but fix every held-out hard sample and raise test accuracy overall: the most useful owner, not harmful
    specialist = owners["specialist"]
    assert (
        specialist["other_accuracy_drop"] > 0.02
        and not specialist["harmful"]
        and specialist["rank"] == 1
    )
    noisy = owners["noisy"]
    assert noisy["harmful"] and noisy["rank"] == len(owners)
    assert noisy["label_agreement"] < noisy["label_agreement_expected"] / 2


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("named", [True, False])
def test_flipped_labels_are_caught_by_the_audit_whether_or_not_hard_classes_are_named(seed, named):
    sc = load_scenario("digits")
    sc = sc if named else sc.without_hard_classes()
    trainer = Trainer(sc.trainer_data(), sc.trainer, seed=seed)
    report = acquire(trainer, sc.owners_data(), load_strategy("mycroft"))
    owners = {o["id"]: o for o in report.to_dict()["owners"]}
    noisy = owners["noisy"]
    assert noisy["harmful"] and "its data contradicts the trainer's" in noisy["harm_reason"]
    assert noisy["label_audit"]["samples"] == 32
    # what it sent: its picks (those of a class whose audit rows are mostly wrong not bought) and the audit
    assert noisy["received"] == noisy["shared"] + noisy["unbought"] + 32
    assert noisy["id"] not in report.combined["owners"]
    honest = [o for k, o in owners.items() if k != "noisy" and o["label_audit"]]
    assert honest and not any(o["harmful"] for o in honest)


@pytest.fixture(scope="module")
def digits_trainer():
    sc = load_scenario("digits").without_hard_classes()
    return Trainer(sc.trainer_data(), sc.trainer, seed=0), sc.owner_data("generalist")


def _mislabelled_in(classes, data, wrong_class: int, rng) -> tuple:
    """Rows of `classes` with right labels, and as many other rows claiming `wrong_class`."""
    from mycroft_fl.core.data import Dataset

    right = np.flatnonzero(np.isin(data.y, classes))
    others = rng.choice(
        np.flatnonzero(~np.isin(data.y, [*classes, wrong_class])), 24, replace=False
    )
    y = np.concatenate([data.y[right], np.full(24, wrong_class)])
    return Dataset(np.concatenate([data.x[right], data.x[others]]), y)


@pytest.mark.parametrize("wrong_class", [8, 3])
def test_picks_of_a_class_whose_audit_is_mostly_wrong_are_not_bought(digits_trainer, wrong_class):
    """Wrong labels concentrated in one class the owner is paid for, its other class clean: that
    class's picks are left out (and counted), the clean class's kept; a clean owner loses none."""
    from mycroft_fl.trainer.results import OwnerResult
    from mycroft_fl.trainer.valuation import leave_out_mislabelled

    trainer, data = digits_trainer
    rng = np.random.default_rng(0)
    held = _mislabelled_in([9], data, wrong_class, rng)
    picks = held.subset(rng.permutation(len(held))[:16])
    audit = held.subset(rng.permutation(len(held))[:32])
    owner = OwnerResult("o", subset=picks, audit=audit)
    leave_out_mislabelled(trainer, owner)
    assert owner.unbought == int(np.sum(picks.y == wrong_class)) > 0
    assert set(owner.subset.y) == {9} and "left out" in owner.notes[0]
    clean = data.subset(np.flatnonzero(np.isin(data.y, [9, wrong_class])))
    honest = OwnerResult("h", subset=clean.subset(np.arange(16)), audit=clean)
    leave_out_mislabelled(trainer, honest)
    assert honest.unbought == 0 and honest.shared == 16
