"""Utility with its uncertainty: a paired bootstrap over the held-out hard samples."""

import numpy as np
import pytest

from mycroft_fl.trainer.uncertainty import PairedBootstrap, overlapping


def test_a_gain_on_every_sample_has_a_tight_interval_and_no_gain_an_interval_around_zero():
    boot = PairedBootstrap(40, seed=0)
    control = np.zeros(40, bool)
    assert boot.interval(control, np.ones(40, bool)) == (1.0, 1.0)
    assert boot.interval(control, control) == (0.0, 0.0)
    rng = np.random.default_rng(1)
    half = rng.permutation(np.arange(40) < 20)
    low, high = boot.interval(control, half)
    assert low < 0.5 < high and high - low == pytest.approx(0.31, abs=0.06)  # ±1.96 sqrt(.25/40)


def test_pairing_cancels_what_both_models_get_right():
    boot = PairedBootstrap(50, seed=0)
    control = np.arange(50) < 30  # the control gets 30 right
    owner = control.copy()
    owner[30:35] = True  # the owner gets the same 30 and 5 more: a sure gain of 0.1
    low, high = boot.interval(control, owner)
    assert 0 < low <= 0.1 <= high < 0.2


def test_same_seed_same_interval_and_no_samples_no_interval():
    a, b = PairedBootstrap(30, seed=3), PairedBootstrap(30, seed=3)
    x, y = np.zeros(30, bool), np.arange(30) % 3 == 0
    assert a.interval(x, y) == b.interval(x, y)
    assert all(np.isnan(PairedBootstrap(0).interval(np.zeros(0, bool), np.zeros(0, bool))))


def test_overlap_of_consecutive_intervals():
    assert overlapping([(0.5, 0.9), (0.4, 0.6), (0.0, 0.1)]) == [True, False, False]
    assert overlapping([]) == []
