"""Models: built-ins on every input shape, user factories, deterministic training, weights that travel."""

import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from mycroft_fl.core.data import check_dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import (
    Classifier,
    ModelSpec,
    TrainConfig,
    accuracy,
    build_model,
    features_and_logits,
    fine_tune,
    fit,
    get_weights,
    predict,
    set_weights,
    train_new,
)

FAST = TrainConfig(epochs=3, finetune_epochs=2, batch_size=16)


def blobs(sample_shape=(6,), n=60, n_classes=3, seed=0):
    """Separable classes: each class shifts the inputs by its own offset."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    x = rng.normal(size=(n, *sample_shape)) + 3.0 * y.reshape(-1, *([1] * len(sample_shape)))
    return check_dataset(x, y)


@pytest.mark.parametrize("name", ["logreg", "mlp", "cnn"])
@pytest.mark.parametrize("shape", [(64,), (8, 8), (1, 8, 8), (3, 8, 8)])
def test_builtin_models_on_every_input_shape(name, shape):
    model = build_model(name, shape, 5)
    assert isinstance(model, Classifier) and isinstance(model.head, nn.Linear)
    x = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)
    h, z = features_and_logits(model, x)
    assert h.shape == (4, model.head.in_features) and z.shape == (4, 5)
    assert np.isfinite(h).all() and np.isfinite(z).all()


def test_cnn_refuses_non_image_vectors():
    with pytest.raises(InputError, match="'cnn' needs image samples"):
        build_model("cnn", (10,), 3)


def test_logreg_and_mlp_take_any_vector():
    assert build_model("logreg", (10,), 3).head.in_features == 10
    assert build_model("mlp", (10,), 3).head.in_features == 128


def test_unknown_model_name():
    with pytest.raises(InputError, match=r"unknown model 'resnet'.*logreg, mlp, cnn"):
        build_model("resnet", (4,), 2)


# --- user factories ------------------------------------------------------------------------------

FACTORIES = """
import torch
from torch import nn

def sequential(sample_shape, n_classes):
    n_in = 1
    for s in sample_shape:
        n_in *= s
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, 7), nn.Tanh(), nn.Linear(7, n_classes))

class WithHead(nn.Module):
    def __init__(self, n_in, n_classes):
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(n_in, 5), nn.ReLU())
        self.head = nn.Linear(5, n_classes)

def features_and_head(sample_shape, n_classes):
    return WithHead(sample_shape[0], n_classes)

def ends_in_relu(sample_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(sample_shape[0], n_classes), nn.ReLU())

def not_a_module(sample_shape, n_classes):
    return "a model"

def wrong_classes(sample_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(sample_shape[0], n_classes + 1))

def wrong_inputs(sample_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(sample_shape[0] + 1, n_classes))

def no_kwargs():
    return nn.Sequential(nn.Linear(2, 2))

def raises(sample_shape, n_classes):
    raise RuntimeError("out of GPUs")
"""


@pytest.fixture
def factories(tmp_path, monkeypatch):
    package = tmp_path / "usermodels"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(textwrap.dedent(FACTORIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "usermodels.nets"


def test_factory_returning_sequential(factories):
    model = build_model(f"{factories}:sequential", (2, 3), 4)
    assert isinstance(model, Classifier)
    assert model.head.in_features == 7 and model.head.out_features == 4
    h, z = features_and_logits(model, np.zeros((3, 2, 3), np.float32))
    assert h.shape == (3, 7) and z.shape == (3, 4)


def test_factory_with_features_and_head_trains(factories):
    data = blobs()
    model = train_new(
        ModelSpec(f"{factories}:features_and_head", (6,), 3),
        data,
        TrainConfig(epochs=40, lr=0.05, batch_size=16),
    )
    assert model.head.in_features == 5
    assert accuracy(model, data) >= 0.9


def test_factory_is_seeded(factories):
    a = build_model(f"{factories}:sequential", (4,), 2, seed=3)
    b = build_model(f"{factories}:sequential", (4,), 2, seed=3)
    for va, vb in zip(get_weights(a).values(), get_weights(b).values()):
        np.testing.assert_array_equal(va, vb)


@pytest.mark.parametrize(
    "factory, words",
    [
        ("ends_in_relu", "must return a module with `features` and a Linear `head`"),
        ("not_a_module", "must return a module with `features` and a Linear `head`"),
        ("wrong_classes", "outputs shape (n, 4) but the data has 3 classes"),
        ("wrong_inputs", "fails on inputs of shape (n, 6)"),
        ("no_kwargs", "the factory failed (TypeError"),
        ("raises", "the factory failed (RuntimeError: out of GPUs)"),
        ("missing", "cannot import"),
    ],
)
def test_bad_factories(factories, factory, words):
    name = f"{factories}:{factory}"
    with pytest.raises(InputError) as info:
        build_model(name, (6,), 3)
    message = str(info.value)
    assert repr(name) in message and words in message and "\n" not in message


def test_factory_in_missing_module():
    with pytest.raises(InputError, match=r"model 'no_such_pkg_xyz.nets:f': cannot import"):
        build_model("no_such_pkg_xyz.nets:f", (6,), 3)


# --- training ------------------------------------------------------------------------------------


def weights_equal(a, b):
    wa, wb = get_weights(a), get_weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("name, shape", [("mlp", (6,)), ("cnn", (1, 4, 4))])
def test_training_is_deterministic_by_seed(name, shape):
    data = blobs(shape, n=40)
    spec = ModelSpec(name, shape, 3)
    a = train_new(spec, data, FAST, seed=5)
    b = train_new(spec, data, FAST, seed=5)
    c = train_new(spec, data, FAST, seed=6)
    assert weights_equal(a, b)
    assert not weights_equal(a, c)


def test_training_learns_separable_data():
    data = blobs()
    model = train_new(
        ModelSpec("logreg", (6,), 3), data, TrainConfig(epochs=30, lr=0.05, batch_size=16)
    )
    assert accuracy(model, data) >= 0.95
    np.testing.assert_array_equal(predict(model, data.x), predict(model, data.x))


def test_standardisation_statistics_travel_with_the_weights():
    data = blobs()
    model = train_new(ModelSpec("mlp", (6,), 3), data, FAST)
    weights = get_weights(model)
    np.testing.assert_allclose(
        weights["features.0.mean"], data.x.mean(axis=0), rtol=1e-5, atol=1e-5
    )


def test_weights_round_trip_gives_identical_predictions():
    data = blobs((8, 8), n=30)
    spec = ModelSpec("cnn", (8, 8), 3)
    trained = train_new(spec, data, FAST, seed=1)
    weights = get_weights(trained)
    assert all(isinstance(v, np.ndarray) for v in weights.values())
    rebuilt = set_weights(spec.build(seed=99), weights)
    h1, z1 = features_and_logits(trained, data.x)
    h2, z2 = features_and_logits(rebuilt, data.x)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(z1, z2)
    # the exported arrays are copies: changing them does not change the model
    weights["head.bias"] += 100.0
    np.testing.assert_array_equal(features_and_logits(trained, data.x)[1], z1)


def test_fine_tune_leaves_the_original_untouched():
    data = blobs()
    spec = ModelSpec("mlp", (6,), 3)
    model = train_new(spec, data, FAST)
    before = get_weights(model)
    tuned = fine_tune(model, blobs(seed=1), FAST)
    after = get_weights(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert tuned is not model and not weights_equal(tuned, model)
    assert not model.training  # still in evaluation mode


def test_fit_with_one_sample_batches():
    data = blobs(n=5)
    model = fit(build_model("mlp", (6,), 3), data, epochs=1, lr=1e-3, batch_size=1)
    assert np.isfinite(features_and_logits(model, data.x)[1]).all()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"finetune_epochs": -1}, "finetune_epochs must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"epochs": "ten"}, "epochs must be an integer"),
        ({"epochs": True}, "epochs must be an integer"),
        ({"lr": 0.0}, "lr must be a number > 0"),
        ({"finetune_lr": -1e-3}, "finetune_lr must be a number > 0"),
        ({"lr": "fast"}, "lr must be a number > 0"),
        ({"lr": float("nan")}, "lr must be a number > 0"),
        ({"weight_decay": -0.1}, "weight_decay must be a number >= 0"),
    ],
)
def test_train_config_validation(kwargs, words):
    with pytest.raises(InputError, match=words):
        TrainConfig(**kwargs)


def test_train_config_accepts_sensible_values():
    config = TrainConfig(
        epochs=1, finetune_epochs=1, lr=1, finetune_lr=0.5, batch_size=1, weight_decay=0
    )
    assert config.lr == 1 and config.weight_decay == 0


def test_predictions_do_not_depend_on_batching():
    data = blobs(n=30)
    model = train_new(ModelSpec("mlp", (6,), 3), data, FAST)
    whole = features_and_logits(model, data.x)[1]
    pieces = features_and_logits(model, data.x, batch_size=7)[1]
    np.testing.assert_allclose(whole, pieces, rtol=1e-5, atol=1e-6)
    assert torch.is_tensor(model.head.weight)
