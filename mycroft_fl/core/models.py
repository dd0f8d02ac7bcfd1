"""Classifiers with an explicit penultimate layer, and a seeded, deterministic CPU training loop.

Every model is a `Classifier`: `features` (inputs -> penultimate features h) followed by a linear
`head` (h -> logits). Gradient matching needs exactly that split: the last-layer gradient is a
function of h and the logits only.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.params import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    Constraint,
    Options,
    check_params,
    check_value,
)
from mycroft_fl.core.standardise import fit_standardisation

BUILTIN_MODELS = ("logreg", "mlp", "cnn")
#: Where training and embedding run: "auto" is CUDA when torch sees a device, else the CPU.
DEVICES = ("auto", "cpu", "cuda")

#: Called by `fit` with the model, a batch's indices and the optimiser, after the batch's backward pass.
StepHook = Callable[[nn.Module, torch.Tensor, torch.optim.Optimizer], None]


class Standardize(nn.Module):
    """Per-feature standardisation whose statistics travel with the model's weights."""

    def __init__(self, sample_shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("mean", torch.zeros(sample_shape))
        self.register_buffer("std", torch.ones(sample_shape))

    def fit(self, x: np.ndarray) -> None:
        """Take the mean and (floored) scale of the training inputs `x` (see `fit_standardisation`)."""
        mean, scale = fit_standardisation(x)
        self.mean.copy_(torch.from_numpy(mean))
        self.std.copy_(torch.from_numpy(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Reshape(nn.Module):
    """Reshape each sample to `shape` (e.g. flat pixels to (C, H, W))."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), *self.shape)


class Classifier(nn.Module):
    """`features` then a linear `head`; `embed` gives the penultimate features."""

    def __init__(self, features: nn.Module, head: nn.Linear):
        super().__init__()
        if not isinstance(head, nn.Linear):
            raise InputError(f"model head must be torch.nn.Linear, got {type(head).__name__}")
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@dataclass(frozen=True)
class ModelSpec:
    """What is needed to rebuild the trainer's model anywhere: a name and the data's shape."""

    name: str
    sample_shape: tuple[int, ...]
    n_classes: int

    def build(self, seed: int = 0) -> Classifier:
        return build_model(self.name, self.sample_shape, self.n_classes, seed=seed)


def _image_shape(sample_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(sample_shape) in (2, 3):
        return (1, *sample_shape)[-3:]
    side = int(round(np.sqrt(np.prod(sample_shape))))
    if len(sample_shape) == 1 and side * side == sample_shape[0]:
        return (1, side, side)
    raise InputError(
        f"model 'cnn' needs image samples (H, W), (C, H, W) or a square H*W vector, got {sample_shape}"
    )


def build_model(
    name: str, sample_shape: tuple[int, ...], n_classes: int, *, seed: int = 0
) -> Classifier:
    """A built-in model (`logreg`, `mlp`, `cnn`) or a user's `"package.module:factory"`.

    A factory is called as `factory(sample_shape=..., n_classes=...)` and returns either a
    `Classifier`, a module with `features` and a linear `head`, or an `nn.Sequential` ending in
    `nn.Linear`.
    """
    torch.manual_seed(seed)
    sample_shape = tuple(int(s) for s in sample_shape)
    n_in = int(np.prod(sample_shape))
    norm = Standardize(sample_shape)
    if name == "logreg":
        return Classifier(nn.Sequential(norm, nn.Flatten()), nn.Linear(n_in, n_classes))
    if name == "mlp":
        return Classifier(
            nn.Sequential(norm, nn.Flatten(), nn.Linear(n_in, 128), nn.ReLU()),
            nn.Linear(128, n_classes),
        )
    if name == "cnn":
        shape = _image_shape(sample_shape)
        features = nn.Sequential(
            norm,
            Reshape(shape),
            nn.Conv2d(shape[0], 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(128, 64),
            nn.ReLU(),
        )
        return Classifier(features, nn.Linear(64, n_classes))
    if ":" in name:
        return _from_factory(name, sample_shape, n_classes)
    raise InputError(
        f"unknown model {name!r}: use one of {', '.join(BUILTIN_MODELS)} or 'package.module:factory'"
    )


def call_factory(name: str, kind: str, **kwargs: object) -> object:
    """Import the user's `"package.module:factory"` and call it with `kwargs`; an import that fails or a
    factory that raises is an InputError naming the `kind` ("model", "embedder") and the name, on one line.

    Parameters
    ----------
    name : str
        "package.module:factory".
    kind : str
        What the factory makes, for the message.
    **kwargs
        Passed to the factory.

    Returns
    -------
    object
        What the factory returned.
    """
    module_name, _, attr = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"{kind} {name!r}: cannot import ({exc})") from None
    try:
        return factory(**kwargs)
    except Exception as exc:  # the user's code: report it on one line
        raise InputError(
            f"{kind} {name!r}: the factory failed ({type(exc).__name__}: {exc})"
        ) from None


def _from_factory(name: str, sample_shape: tuple[int, ...], n_classes: int) -> Classifier:
    module = call_factory(name, "model", sample_shape=sample_shape, n_classes=n_classes)
    if isinstance(module, Classifier):
        model = module
    elif (
        isinstance(module, nn.Module)
        and hasattr(module, "features")
        and isinstance(getattr(module, "head", None), nn.Linear)
    ):
        model = Classifier(module.features, module.head)
    elif isinstance(module, nn.Sequential) and len(module) and isinstance(module[-1], nn.Linear):
        model = Classifier(module[:-1], module[-1])
    else:
        raise InputError(
            f"model {name!r}: the factory must return a module with `features` and a Linear `head`, "
            "or an nn.Sequential ending in nn.Linear"
        )
    was_training = model.training
    model.eval()
    try:  # a dry run: the model must map (n, *sample_shape) to (n, n_classes)
        with torch.no_grad():
            out = model(torch.zeros((2, *sample_shape)))
    except Exception as exc:
        raise InputError(
            f"model {name!r}: fails on inputs of shape (n, {', '.join(map(str, sample_shape))}) "
            f"({type(exc).__name__}: {' '.join(str(exc).split())})"
        ) from None
    model.train(was_training)
    if tuple(out.shape) != (2, n_classes):
        raise InputError(
            f"model {name!r}: outputs shape (n, {', '.join(map(str, out.shape[1:]))}) "
            f"but the data has {n_classes} classes"
        )
    return model


@dataclass(frozen=True)
class TrainConfig:
    """How the trainer's model is fitted: full training and the shorter fine-tuning."""

    epochs: int = 60
    finetune_epochs: int = 20
    lr: float = 3e-3
    finetune_lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 1e-4

    constraints: ClassVar[dict[str, Constraint]] = {
        "epochs": POSITIVE_INT,
        "finetune_epochs": POSITIVE_INT,
        "lr": POSITIVE,
        "finetune_lr": POSITIVE,
        "batch_size": POSITIVE_INT,
        "weight_decay": NON_NEGATIVE,
    }

    def __post_init__(self) -> None:
        check_params({k: getattr(self, k) for k in self.constraints}, self.constraints)


def resolve_device(name: str) -> torch.device:
    """The torch device for `name`: "cpu", "cuda", or "auto" (CUDA when torch sees a device, else the
    CPU). Asking for "cuda" where torch sees none is an InputError, not a crash later in training."""
    check_value(name, Options(DEVICES), "device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda': torch sees no CUDA device here (use 'auto' or 'cpu')")
    return torch.device(name)


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters are (the CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def fit(
    model: Classifier,
    data: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    weight_decay: float = 1e-4,
    seed: int = 0,
    on_step: StepHook | None = None,
    device: torch.device | str = "cpu",
) -> Classifier:
    """Train `model` in place with Adam on shuffled mini-batches on `device` (the model moves there);
    the same seed gives the same weights. `on_step(model, batch, optimizer)`, if given, sees each batch's
    indices into `data` after its backward pass and before the optimiser's step (for valuing data during
    training)."""
    gen = torch.Generator().manual_seed(seed)
    model.to(device)
    x = torch.from_numpy(data.x).to(device)
    y = torch.from_numpy(data.y).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            opt.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            if on_step is not None:
                on_step(model, batch, opt)
            opt.step()
    model.eval()
    return model


def train_new(
    spec: ModelSpec,
    data: Dataset,
    config: TrainConfig,
    *,
    seed: int = 0,
    on_step: StepHook | None = None,
    device: torch.device | str = "cpu",
) -> Classifier:
    """A fresh model of `spec`, standardised on `data` and trained on it for `config.epochs` on `device`."""
    model = spec.build(seed=seed)
    norm = model.features[0] if isinstance(model.features, nn.Sequential) else None
    if isinstance(norm, Standardize):
        norm.fit(data.x)
    return fit(
        model,
        data,
        epochs=config.epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        seed=seed,
        on_step=on_step,
        device=device,
    )


def fine_tune(
    model: Classifier,
    data: Dataset,
    config: TrainConfig,
    *,
    seed: int = 0,
    on_step: StepHook | None = None,
) -> Classifier:
    """A copy of `model` trained further on `data` for `config.finetune_epochs`, on the model's own
    device; `model` is untouched."""
    return fit(
        copy.deepcopy(model),
        data,
        epochs=config.finetune_epochs,
        lr=config.finetune_lr,
        batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        seed=seed,
        on_step=on_step,
        device=model_device(model),
    )


@torch.no_grad()
def features_and_logits(
    model: Classifier, x: np.ndarray, *, batch_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features h and logits z for `x`, in evaluation mode, on the model's device.

    `batch_size` samples go through the model at a time, their outputs written into arrays
    allocated once, so memory holds h and z of `x` and one batch's activations.
    """
    model.eval()
    device = model_device(model)
    h_out = z_out = None
    for start in range(
        0, max(len(x), 1), batch_size
    ):  # one empty batch gives x of no samples its shapes
        rows = slice(start, start + batch_size)
        features = model.embed(torch.from_numpy(x[rows]).to(device))
        h, z = features.cpu().numpy(), model.head(features).cpu().numpy()
        if h_out is None:
            h_out = np.empty((len(x), *h.shape[1:]), dtype=h.dtype)
            z_out = np.empty((len(x), *z.shape[1:]), dtype=z.dtype)
        h_out[rows], z_out[rows] = h, z
    return h_out, z_out


def predict(model: Classifier, x: np.ndarray) -> np.ndarray:
    """Predicted labels for `x`."""
    return features_and_logits(model, x)[1].argmax(axis=1)


def accuracy(model: Classifier, data: Dataset) -> float:
    """Fraction of `data` the model labels correctly (nan for no samples)."""
    if len(data) == 0:
        return float("nan")
    return float(np.mean(predict(model, data.x) == data.y))


def get_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's state as numpy arrays (what travels to owners)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def set_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> nn.Module:
    """Load numpy arrays produced by `get_weights` into `model`."""
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
    model.eval()
    return model
