"""Screening of received samples: replays of the trainer's hard samples, and label agreement."""

from __future__ import annotations

import numpy as np
import pytest

from mycroft_fl.core.data import Dataset
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trust.harm import FOREST, NEIGHBOURS
from mycroft_fl.trust.screening import Screen


@pytest.fixture(scope="module")
def setup():
    sc = load_scenario("digits")
    return sc, Trainer(sc.trainer_data(), sc.trainer, seed=0)


def near_copies(data: Dataset, scale: float, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, scale, data.x.shape) * data.x.std(axis=0)
    return Dataset((data.x + noise).astype(np.float32), data.y)


def test_exact_and_near_copies_of_hard_query_samples_are_replays(setup):
    _, trainer = setup
    screen, hard = trainer.screen, trainer.hard_query
    assert screen.replays(hard).all()
    assert screen.replays(near_copies(hard, 0.01)).all()


def test_genuine_owner_samples_and_held_out_hard_samples_are_not_replays(setup):
    sc, trainer = setup
    for owner in sc.owner_ids:
        assert not trainer.screen.replays(sc.owner_data(owner)).any(), owner
    assert not trainer.screen.replays(trainer.hard_eval).any()


def test_label_agreement_separates_clean_from_flipped_labels(setup):
    sc, trainer = setup
    assert trainer.screen.audit(sc.owner_data("generalist")).agreement >= 0.8
    assert trainer.screen.audit(sc.owner_data("noisy")).agreement <= 0.4


def test_replaying_owner_is_credited_nothing_and_ranks_below_honest_ones(setup):
    sc, trainer = setup
    replayer = Dataset.concat([trainer.hard_query, near_copies(trainer.hard_query, 0.02, seed=1)])
    owners = {"specialist": sc.owner_data("specialist"), "replayer": replayer}
    report = acquire(trainer, owners, load_strategy("mycroft", budget=16))
    got = {o["id"]: o for o in report.to_dict()["owners"]}
    assert got["replayer"]["replayed"] == 16
    assert got["replayer"]["shared"] == 0 and got["replayer"]["utility"] == 0
    assert got["specialist"]["replayed"] == 0 and got["specialist"]["rank"] == 1
    assert got["replayer"]["rank"] == 2
    assert report.to_dict()["exposure"]["total_replayed"] == 16


def test_expected_agreement_is_the_trainers_own_leave_one_out_figure_per_class():
    # two well-separated clusters of class 0 and 1, and a class 2 mixed into class 1's cluster
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.normal(0, 1, (40, 2)), rng.normal(20, 1, (40, 2)), rng.normal(20, 1, (40, 2))]
    )
    y = np.repeat([0, 1, 2], 40)
    screen = Screen(
        Dataset(x.astype(np.float32), y), Dataset(x[:1].astype(np.float32), y[:1]), n_classes=3
    )
    assert screen.class_agreement[0] == 1.0  # its own cluster votes for it
    assert (
        0.2 < screen.class_agreement[1] < 0.8 and 0.2 < screen.class_agreement[2] < 0.8
    )  # a coin toss
    clean, wrong = screen.expected_agreement(np.array([0, 0]))
    assert (clean, wrong) == (1.0, 0.0)  # clean labels always agree; flipped ones never
    clean, wrong = screen.expected_agreement(np.array([0, 1]))
    assert clean == pytest.approx((1 + screen.class_agreement[1]) / 2)
    assert wrong == pytest.approx(
        (1 - screen.class_agreement[1]) / 2 / 2
    )  # (1 - clean) / (C - 1), averaged
    assert screen.expected_agreement(np.array([], dtype=np.int64)) == (None, None)


def test_an_audit_of_all_its_data_finds_the_flipped_owner_mislabelled_and_no_other(setup):
    sc, trainer = setup
    for owner, mislabelled in (("generalist", False), ("specialist", False), ("noisy", True)):
        audit = trainer.screen.audit(sc.owner_data(owner))
        assert audit.mislabelled == mislabelled, (owner, audit)
        assert audit.voter == NEIGHBOURS and audit.to_dict()["voter"] == NEIGHBOURS


def few_informative_columns(n: int, seed: int, shape: tuple[int, ...] = (40,)) -> Dataset:
    """Three classes read from two of forty columns (the rest noise on the same scale), as a diamond's
    cut is graded from two of its columns; `shape` (40,) is a table, (8, 5) the same values as images."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 40))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return Dataset(x.reshape(n, *shape).astype(np.float32), y)


def flagged(screen: Screen, shape: tuple[int, ...]) -> tuple[int, int]:
    """Of 20 owners' audits of 32 samples, how many are judged mislabelled with clean labels and with
    every label flipped to another class."""
    counts = [0, 0]
    for seed in range(1, 21):
        owner = few_informative_columns(32, seed, shape)
        for i, y in enumerate((owner.y, (owner.y + 1 + np.arange(32) % 2) % 3)):
            counts[i] += screen.audit(Dataset(owner.x, y)).mislabelled
    return counts[0], counts[1]


def test_a_table_whose_label_sits_in_few_columns_is_voted_on_by_a_forest_that_finds_flipped_labels():
    table = few_informative_columns(600, seed=0)
    screen = Screen(table, table.subset(np.arange(2)), n_classes=3, seed=0)
    assert screen.voter == FOREST
    assert flagged(screen, (40,)) == (0, 20)
    assert screen.predict(table.x[:0]).shape == (0,)  # nothing to vote on, no error
    assert screen.audit(table.subset(np.arange(0))) is None
    # the neighbours' vote, which the 38 noise columns drown, finds at most half of them
    neighbours = Screen(table, table.subset(np.arange(2)), n_classes=3, seed=0, forest=False)
    assert neighbours.voter == NEIGHBOURS
    clean, wrong = flagged(neighbours, (40,))
    assert clean == 0 and wrong <= 10
    # the same values as images keep the neighbours' vote
    images = few_informative_columns(600, seed=0, shape=(8, 5))
    assert Screen(images, images.subset(np.arange(2)), n_classes=3, seed=0).voter == NEIGHBOURS


def test_a_table_the_neighbours_vote_on_well_keeps_the_neighbours(setup):
    _, trainer = setup
    assert trainer.screen.voter == NEIGHBOURS  # digits: the forest is no better beyond noise


def test_right_labels_of_the_kind_the_trainer_gets_wrong_are_judged_as_its_hard_samples_are():
    """A cue in the trainer's data misleads the vote on the samples it lacks (class 0 that looks like
    class 1): an owner's right labels of that kind disagree with the vote as wrong labels would.
    Judged as the trainer's own hard samples are (`as_hard`), they are not called mislabelled;
    labels that are wrong on typical rows still are."""
    rng = np.random.default_rng(0)
    typical0 = rng.normal(0.0, 1.0, (100, 2))
    typical1 = rng.normal(6.0, 1.0, (100, 2))
    counter = rng.normal(
        6.0, 1.0, (6, 2)
    )  # class 0 where class 1 lives: the trainer's hard samples
    x = np.concatenate([typical0, typical1, counter]).astype(np.float32)
    y = np.array([0] * 100 + [1] * 100 + [0] * 6)
    screen = Screen(
        Dataset(x, y), Dataset(counter.astype(np.float32), np.zeros(6, int)), forest=False
    )
    owner = Dataset(rng.normal(6.0, 1.0, (12, 2)).astype(np.float32), np.zeros(12, int))
    assert screen.audit(owner).mislabelled  # by typical rows' calibration, they look wrong
    assert not screen.audit(owner, as_hard=True).mislabelled
    wrong = Dataset(rng.normal(0.0, 1.0, (12, 2)).astype(np.float32), np.ones(12, int))
    assert screen.audit(wrong, as_hard=True).mislabelled  # class 1 on class 0's typical rows
