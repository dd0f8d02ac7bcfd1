"""Embedders: rebuilt by owners from a name, the trainer's state and model, and embedding like the trainer."""

import sys
import textwrap

import numpy as np
import pytest

from mycroft_fl.core import embedders
from mycroft_fl.core.data import check_dataset
from mycroft_fl.core.embedders import (
    EfficientNetLite0,
    check_embedder_name,
    embedder_state,
    make_embedder,
)
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import (
    ModelSpec,
    TrainConfig,
    features_and_logits,
    train_new,
)


def test_raw_standardises_with_the_trainers_statistics():
    rng = np.random.default_rng(0)
    train_x = rng.normal(loc=5.0, scale=[[1.0, 2.0], [3.0, 4.0]], size=(200, 2, 2)).astype(
        np.float32
    )
    state = embedder_state("raw", train_x)
    assert set(state) == {"mean", "std"} and state["mean"].shape == (4,)
    embed = make_embedder("raw", state)
    train_e = embed(train_x)
    assert train_e.shape == (200, 4) and train_e.dtype == np.float32
    np.testing.assert_allclose(train_e.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(train_e.std(axis=0), 1, atol=1e-4)
    # an owner's data is standardised with the trainer's statistics, not its own
    owner_x = (train_x[:10] + 1.0).astype(np.float32)
    expected = (owner_x.reshape(10, -1) - train_x.reshape(200, -1).mean(0)) / (
        train_x.reshape(200, -1).std(0) + 1e-6
    )
    np.testing.assert_allclose(embed(owner_x), expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(embed(owner_x).mean(axis=0), 0, atol=0.1)


def test_raw_constant_feature_stays_finite():
    train_x = np.zeros((5, 3), np.float32)
    embed = make_embedder("raw", embedder_state("raw", train_x))
    assert np.isfinite(embed(np.ones((2, 3), np.float32))).all()


def test_trainer_embedder_is_the_penultimate_layer():
    rng = np.random.default_rng(0)
    data = check_dataset(rng.normal(size=(30, 5)), np.arange(30) % 3)
    model = train_new(ModelSpec("mlp", (5,), 3), data, TrainConfig(epochs=2))
    assert embedder_state("trainer", data.x) == {}
    embed = make_embedder("trainer", {}, model)
    h, _ = features_and_logits(model, data.x)
    np.testing.assert_array_equal(embed(data.x), h)
    assert h.shape == (30, 128)


def test_trainer_embedder_needs_the_model():
    with pytest.raises(InputError, match="needs the trainer's model"):
        make_embedder("trainer", {})


@pytest.mark.parametrize(
    "maker",
    [
        check_embedder_name,
        lambda n: embedder_state(n, np.zeros((2, 2))),
        lambda n: make_embedder(n, {}),
    ],
)
def test_unknown_embedder(maker):
    with pytest.raises(
        InputError, match=r"unknown embedder 'clip'.*trainer, raw, efficientnet-lite0"
    ):
        maker("clip")


USER_EMBEDDERS = """
import numpy as np

def row_sums():
    return lambda x: x.reshape(len(x), -1).sum(axis=1, keepdims=True)

def not_callable():
    return 42

def broken():
    raise RuntimeError("no weights here")
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_embed_mod.py").write_text(textwrap.dedent(USER_EMBEDDERS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_embed_mod"


def test_user_factory(user_module):
    name = f"{user_module}:row_sums"
    check_embedder_name(name)
    assert embedder_state(name, np.zeros((2, 2))) == {}
    embed = make_embedder(name, {})
    np.testing.assert_array_equal(embed(np.arange(6.0).reshape(2, 3)), [[3.0], [12.0]])


@pytest.mark.parametrize(
    "factory, words",
    [
        ("not_callable", "must return a callable"),
        ("broken", "the factory failed (RuntimeError: no weights here)"),
        ("absent", "cannot import"),
    ],
)
def test_bad_user_factory(user_module, factory, words):
    with pytest.raises(InputError) as info:
        make_embedder(f"{user_module}:{factory}", {})
    assert words in str(info.value)


def test_user_factory_in_missing_module():
    with pytest.raises(InputError, match="cannot import"):
        make_embedder("no_such_module_abc:f", {})


# --- EfficientNet-Lite0 (optional extra) ---------------------------------------------------------


def grey_images(n=3, seed=0):
    return np.random.default_rng(seed).integers(0, 17, size=(n, 8, 8)).astype(np.float32)


def test_efficientnet_state_scales_to_255():
    state = embedder_state("efficientnet-lite0", grey_images() * 0 + 16.0)
    np.testing.assert_allclose(state["scale"], [255.0 / 16.0])
    assert embedder_state("efficientnet-lite0", np.zeros((2, 4)))["scale"][0] == 1.0


def test_efficientnet_features_are_cached(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    monkeypatch.setenv("MYCROFT_FL_CACHE", str(tmp_path))
    x = grey_images()
    embed = make_embedder("efficientnet-lite0", embedder_state("efficientnet-lite0", x))
    first = embed(x)
    assert first.shape == (3, 1280) and first.dtype == np.float32 and np.isfinite(first).all()
    assert np.ptp(first, axis=0).max() > 0  # different images, different features
    cached = list((tmp_path / "embeddings").glob("*.npy"))
    assert len(cached) == 1

    def no_network(*args, **kwargs):
        raise AssertionError("the network ran although the features were cached")

    monkeypatch.setattr(embed._net, "extract_features", no_network)
    np.testing.assert_array_equal(embed(x), first)
    # other inputs are not served from the cache: the network is needed (and fails here)
    with pytest.raises(AssertionError, match="network ran"):
        embed(grey_images(seed=1))


def test_efficientnet_accepts_flat_square_and_channel_images(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    monkeypatch.setenv("MYCROFT_FL_CACHE", str(tmp_path))
    x = grey_images(2)
    embed = EfficientNetLite0(scale=255.0 / 16.0)
    by_hw = embed(x)
    np.testing.assert_allclose(embed(x.reshape(2, 64)), by_hw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(embed(x[:, None]), by_hw, rtol=1e-4, atol=1e-4)
    with pytest.raises(InputError, match="needs images"):
        embed(np.zeros((2, 10), np.float32))


def test_efficientnet_missing_extra_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(InputError, match=r"pip install 'mycroft-fl\[images\]'"):
        make_embedder("efficientnet-lite0", {"scale": np.array([1.0], np.float32)})


def test_cache_directory_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MYCROFT_FL_CACHE", str(tmp_path / "c"))
    assert embedders._cache_dir() == tmp_path / "c" / "embeddings"
