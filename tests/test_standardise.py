"""One standardisation for the model, the raw embedder and screening: a feature that is constant in the
trainer's training set must not turn an owner's ordinary values there into huge numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mycroft_fl.core.data import Dataset, check_dataset
from mycroft_fl.core.embedders import embedder_state, make_embedder
from mycroft_fl.core.models import ModelSpec, TrainConfig, train_new
from mycroft_fl.core.standardise import fit_standardisation
from mycroft_fl.trust.screening import Screen

CONSTANT = 3  # the feature that never varies in the trainer's training set


def trainer_and_owner(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Trainer inputs with one constant feature (like the border pixels of Fashion-MNIST), and an
    owner whose values there are as ordinary as everywhere else (one typical std from the mean)."""
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(300, 10)).astype(np.float32)
    train[:, CONSTANT] = 0.0
    owner = rng.normal(size=(50, 10)).astype(np.float32)
    owner[:, CONSTANT] = rng.choice([-1.0, 1.0], size=50)
    return train, owner


def standardised_three_ways(train: np.ndarray, owner: np.ndarray) -> dict[str, np.ndarray]:
    """The owner's inputs standardised with the trainer's statistics by each of the three users."""
    model = train_new(
        ModelSpec("logreg", train.shape[1:], 2),
        check_dataset(train, np.arange(len(train)) % 2),
        TrainConfig(epochs=1),
    )
    with torch.no_grad():
        by_model = model.features[0](torch.from_numpy(owner)).numpy()
    by_embedder = make_embedder("raw", embedder_state("raw", train))(owner)
    screen = Screen(Dataset(train, np.arange(len(train)) % 2), Dataset(train[:5], np.zeros(5, int)))
    return {"model": by_model, "raw embedder": by_embedder, "screening": screen._standardise(owner)}


@pytest.mark.parametrize("user", ["model", "raw embedder", "screening"])
def test_ordinary_owner_values_on_a_constant_trainer_feature_stay_of_order_one(user):
    train, owner = trainer_and_owner()
    z = standardised_three_ways(train, owner)[user]
    assert np.isfinite(z).all()
    assert np.abs(z[:, CONSTANT]).max() < 20.0  # about 10; dividing by std + 1e-6 gave 1e6
    # every varying feature is standardised as before: the floor does not touch them
    varying = np.arange(train.shape[1]) != CONSTANT
    expected = (owner[:, varying] - train[:, varying].mean(0)) / train[:, varying].std(0)
    np.testing.assert_allclose(z[:, varying], expected, rtol=1e-3, atol=1e-3)


def test_floor_is_relative_to_the_datas_own_scale():
    train, _ = trainer_and_owner()
    for unit in (1e-3, 1.0, 255.0):
        mean, scale = fit_standardisation(train * unit)
        assert scale.shape == mean.shape == (10,)
        typical = np.median(train.std(0)[np.arange(10) != CONSTANT]) * unit
        assert scale[CONSTANT] == pytest.approx(0.1 * typical, rel=1e-3)


def test_keeps_the_sample_shape_and_survives_all_constant_data():
    mean, scale = fit_standardisation(np.full((4, 2, 3), 7.0))
    assert mean.shape == scale.shape == (2, 3)
    np.testing.assert_array_equal(mean, 7.0)
    np.testing.assert_array_equal(scale, 1.0)
