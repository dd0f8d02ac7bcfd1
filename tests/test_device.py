"""Where training and embedding run: "auto" (CUDA when torch sees it), "cpu" or "cuda"."""

import numpy as np
import pytest
import torch

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import ModelSpec, TrainConfig, predict, resolve_device, train_new
from mycroft_fl.trainer.trainer import TrainerConfig


def test_auto_is_the_cpu_where_torch_sees_no_cuda_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_asking_for_cuda_without_a_device_is_a_clear_error():
    with pytest.raises(InputError, match="device 'cuda': torch sees no CUDA device"):
        resolve_device("cuda")


@pytest.mark.parametrize("bad", ["gpu", "", 0, None])
def test_unknown_device_names_the_argument(bad):
    with pytest.raises(InputError, match="device must be one of 'auto', 'cpu', 'cuda'"):
        TrainerConfig(device=bad)


def test_training_on_the_cpu_is_unchanged_by_the_device_option():
    rng = np.random.default_rng(0)
    data = Dataset(rng.normal(size=(60, 5)).astype(np.float32), rng.integers(0, 3, 60))
    spec, config = ModelSpec("mlp", (5,), 3), TrainConfig(epochs=3)
    default = train_new(spec, data, config, seed=1)
    on_cpu = train_new(spec, data, config, seed=1, device=resolve_device("auto"))
    for (k, a), b in zip(default.state_dict().items(), on_cpu.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu()), k
    np.testing.assert_array_equal(predict(default, data.x), predict(on_cpu, data.x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_training_on_cuda_predicts_like_the_cpu():
    rng = np.random.default_rng(0)
    data = Dataset(rng.normal(size=(60, 5)).astype(np.float32), rng.integers(0, 3, 60))
    model = train_new(ModelSpec("mlp", (5,), 3), data, TrainConfig(epochs=3), device="cuda")
    assert next(model.parameters()).is_cuda
    assert predict(model, data.x).shape == (60,)


def test_a_scenario_names_the_trainers_device(tmp_path):
    from mycroft_fl.scenarios.spec import load_scenario

    path = tmp_path / "s.toml"
    path.write_text(
        '[data]\nsource = "digits"\n[trainer]\ndevice = "cpu"\n[[owners]]\nid = "a"\nsize = 20\n'
    )
    assert load_scenario(path).trainer.device == "cpu"
    path.write_text(
        '[data]\nsource = "digits"\n[trainer]\ndevice = "tpu"\n[[owners]]\nid = "a"\nsize = 20\n'
    )
    with pytest.raises(InputError, match="device must be one of"):
        load_scenario(path)
