"""The harm rule on hand-made paired outcomes: damage beyond noise without a net gain, or implausible
labels with any damage; and, on digits, that honest data in bulk is not harmful while flipped labels are."""

from __future__ import annotations

import numpy as np
import pytest

from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import value_with
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trust.harm import LabelCheck, PairedChange, judge_harm

CLEAN = LabelCheck(agreement=0.9, clean=0.9, wrong=0.01)
FLIPPED = LabelCheck(agreement=0.2, clean=0.9, wrong=0.01)


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


def test_damage_beyond_noise_without_a_net_gain_is_harmful():
    reason = judge_harm(change(40, 5), change(45, 40), CLEAN)
    assert reason.startswith(
        "lowers accuracy outside the hard classes by 3.5 pts (lost 40, gained 5"
    )


def test_damage_bought_back_by_a_net_gain_beyond_noise_is_a_trade_not_harm():
    # an honest owner's bulk of hard-class data: the other classes lose, the whole test set gains more
    assert judge_harm(change(40, 5), change(45, 120), CLEAN) is None


def test_implausible_labels_are_harmful_only_when_they_do_damage():
    assert (
        "its labels contradict the trainer's data (agreement 0.20, clean labels of these classes 0.90)"
        in judge_harm(change(6, 4), change(6, 30), FLIPPED)
    )
    assert (
        judge_harm(change(4, 6), change(4, 30), FLIPPED) is None
    )  # the rest of the task did not suffer
    assert judge_harm(change(6, 4), change(6, 30), CLEAN) is None  # noise, with plausible labels


def test_labels_are_implausible_below_halfway_between_clean_and_wrong():
    assert LabelCheck(0.44, 0.9, 0.0).implausible and not LabelCheck(0.46, 0.9, 0.0).implausible
    assert not LabelCheck(
        0.1, 0.5, 0.5
    ).implausible  # the vote tells clean from wrong apart no better than chance
    assert not LabelCheck(None, None, None).implausible  # nothing received


@pytest.fixture(scope="module")
def full_information_digits():
    sc = load_scenario("digits")
    trainer = Trainer(sc.trainer_data(), sc.trainer, seed=0)
    report = value_with(trainer, sc.owners_data(), load_strategy("full-information"))
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
    assert (
        noisy["harmful"]
        and noisy["rank"] == len(owners)
        and "labels contradict" in noisy["harm_reason"]
    )
    assert noisy["label_agreement"] < noisy["label_agreement_expected"] / 2
