"""Perturbations of a built-in source's samples (spec.py says what each option means): the spurious
cue, the cross-domain inversion, and the corruptions of a fraction of each class. Each changes a
Dataset's float32 samples in place and draws only from the random stream it is given; the image ones
take (n, H, W) samples or flat squares (n, H*W).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError

CUES = ("corner",)
CROSS_DOMAINS = ("invert",)
CORRUPTIONS = ("blur", "erase", "rotate", "shuffle")


def mark_corner(
    data: Dataset, cue_class: int, counter: float, value: float, rng: np.random.Generator, at: str
) -> None:
    """The `corner` cue: a square of side/7 pixels (at least 1) set to `value` in the top-left corner of
    the samples of `cue_class`, but the other way round on `counter` of each class (counter-examples)."""
    images = _images(data.x, at)
    k = max(1, images.shape[-1] // 7)
    marked = (data.y == cue_class) != _pick(data.y, counter, rng)
    images[marked, :k, :k] = value


def invert(data: Dataset, top: float, at: str) -> None:
    """Images inverted about `top` (the source's brightest value): a light background, a dark object."""
    _images(data.x, at)  # images only
    np.subtract(top, data.x, out=data.x)


def corrupt(
    data: Dataset,
    kind: str,
    fraction: float,
    rng: np.random.Generator,
    at: str,
    columns: Sequence[np.ndarray] = (),
) -> None:
    """Corrupt `fraction` of the samples of each class: the image corruptions `blur`, `erase` and `rotate`
    each image on its own; `shuffle` permutes the values of each of `columns` (feature indices) among the
    corrupted rows."""
    rows = np.flatnonzero(_pick(data.y, fraction, rng))
    if kind == "shuffle":
        for cols in columns:
            data.x[np.ix_(rows, cols)] = data.x[np.ix_(rng.permutation(rows), cols)]
        return
    images, change = _images(data.x, at), _IMAGE_CORRUPTIONS[kind]
    for r in rows:
        images[r] = change(images[r], rng)


def _pick(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A mask of round(fraction * n) random samples of each class."""
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[rng.permutation(idx)[: int(round(fraction * len(idx)))]] = True
    return mask


def _images(x: np.ndarray, at: str) -> np.ndarray:
    """A (n, H, W) view of image samples given as (n, H, W) or as flat squares (n, H*W)."""
    if x.ndim == 3:
        return x
    side = int(round(np.sqrt(x.shape[1])))
    if x.ndim == 2 and side > 1 and side * side == x.shape[1]:
        return x.reshape(len(x), side, side)
    raise InputError(f"{at} needs image samples, but the source's samples have shape {x.shape[1:]}")


def _blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian, sigma = image side / 20."""
    return ndimage.gaussian_filter(img, sigma=img.shape[-1] / 20)


def _erase(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rectangle of 20-40% of the image, aspect 1:2 to 2:1, set to 0."""
    side = img.shape[-1]
    area, aspect = rng.uniform(0.2, 0.4) * side * side, np.exp(rng.uniform(np.log(0.5), np.log(2)))
    h = min(side, max(1, int(round(np.sqrt(area * aspect)))))
    w = min(side, max(1, int(round(np.sqrt(area / aspect)))))
    top, left = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
    out = img.copy()
    out[top : top + h, left : left + w] = 0
    return out


def _rotate(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """By 45 to 135 degrees either way, about the centre, filled with 0."""
    angle = rng.uniform(45, 135) * rng.choice([-1, 1])
    return ndimage.rotate(img, angle, reshape=False, order=1, mode="constant", cval=0.0)


_IMAGE_CORRUPTIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "blur": _blur,
    "erase": _erase,
    "rotate": _rotate,
}
