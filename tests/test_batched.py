"""Fine-tuning many copies side by side (`core.batched`) trains each copy as `fine_tune` would alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mycroft_fl.core.batched import batchable, fine_tune_each, fine_tune_many
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.models import Classifier, ModelSpec, TrainConfig, predict, train_new

CONFIG = TrainConfig(epochs=3, finetune_epochs=3, batch_size=16)


def data(n: int, shape: tuple[int, ...], seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, *shape)) + y.reshape(-1, *[1] * len(shape))).astype(np.float32)
    return Dataset(x, y.astype(np.int64))


@pytest.mark.parametrize("name, shape", [("mlp", (12,)), ("logreg", (12,)), ("cnn", (8, 8))])
def test_each_copy_trains_as_it_would_alone(name, shape):
    base = data(40, shape, 0)
    model = train_new(ModelSpec(name, shape, 3), base, CONFIG, seed=1)
    # sizes that give different numbers of steps per epoch, and a copy with no extra data
    extras = [None, data(1, shape, 2), data(9, shape, 3), data(25, shape, 4)]
    batch = fine_tune_many(model, base, extras, CONFIG, seed=5)
    alone = fine_tune_each(model, base, extras, CONFIG, seed=5)
    probe = data(30, shape, 6).x
    for i, m in enumerate(alone):
        for key, p in m.named_parameters():
            assert torch.allclose(batch.params[key][i], p, atol=1e-5), key
        assert np.array_equal(batch.predict(probe)[i], predict(m, probe))
        assert np.array_equal(predict(batch.model(i), probe), predict(m, probe))
    for key, p in model.named_parameters():  # the template is untouched
        assert not torch.equal(p, batch.params[key][3])


def test_a_model_with_dropout_is_not_batched():
    model = Classifier(nn.Sequential(nn.Flatten(), nn.Dropout(0.5)), nn.Linear(12, 3))
    assert not batchable(model)
    with pytest.raises(ValueError, match="one at a time"):
        fine_tune_many(model, data(10, (12,), 0), [None], CONFIG)
