"""Labelled arrays and their checks: every array that enters the engine passes `check_dataset`."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.params import Interval, check_value


@dataclass(frozen=True)
class Dataset:
    """Inputs `x` (n, ...) float32 and labels `y` (n,) int64."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def subset(self, indices: np.ndarray) -> Dataset:
        return Dataset(self.x[indices], self.y[indices])

    @staticmethod
    def concat(parts: list[Dataset]) -> Dataset:
        return Dataset(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))


@dataclass(frozen=True)
class TrainerData:
    """The trainer's own data: train (fits the model), val (where hard samples are found), test.

    Parameters
    ----------
    train, val, test : Dataset
        Samples of one shape, labels 0..n_classes-1.
    n_classes : int
        Number of classes (>= 2); every label of every split must lie below it.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    n_classes: int

    def __post_init__(self) -> None:
        check_value(self.n_classes, Interval(int, 2, None), "n_classes")
        for split in ("train", "val", "test"):
            part = getattr(self, split)
            if not isinstance(part, Dataset):
                raise InputError(
                    f"trainer {split} must be a Dataset (see load_npz), got {type(part).__name__}"
                )
            if part.sample_shape != self.train.sample_shape:
                raise InputError(
                    f"trainer {split}: sample shape {part.sample_shape} differs from train's "
                    f"{self.train.sample_shape}"
                )
            if len(part) and (part.y.min() < 0 or part.y.max() >= self.n_classes):
                raise InputError(
                    f"trainer {split}: labels outside 0..{self.n_classes - 1} "
                    f"(found {part.y.min()}..{part.y.max()}; n_classes is {self.n_classes})"
                )


def check_dataset(
    x: object, y: object, *, name: str = "data", n_classes: int | None = None
) -> Dataset:
    """Validate and convert arrays to a Dataset; raise InputError naming `name` and the problem."""
    try:
        x = np.asarray(x)
        y = np.asarray(y)
    except ValueError as exc:  # ragged nested sequences
        raise InputError(f"{name}: x and y must be rectangular arrays ({exc})") from None
    if x.dtype.kind not in "fiub":
        raise InputError(f"{name}: x must be numeric, got dtype {x.dtype}")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            if y.size and np.max(np.abs(y)) >= 2**53:  # beyond exact integers: no class number
                top = "C-1" if n_classes is None else str(n_classes - 1)
                raise InputError(
                    f"{name}: labels outside 0..{top} (found {y.min():g}..{y.max():g})"
                )
            y = y.astype(np.int64)
        else:
            raise InputError(f"{name}: y must hold integer class labels, got dtype {y.dtype}")
    if x.ndim < 2:
        raise InputError(f"{name}: x must have shape (n, features...), got {x.shape}")
    if y.ndim != 1:
        raise InputError(f"{name}: y must have shape (n,), got {y.shape}")
    if len(x) == 0:
        raise InputError(f"{name}: no samples (x and y are empty)")
    if len(x) != len(y):
        raise InputError(f"{name}: x has {len(x)} samples but y has {len(y)}")
    if x[0].size == 0:
        raise InputError(f"{name}: samples have no features (x has shape {x.shape})")
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1)))
        raise InputError(f"{name}: x contains NaN or inf in {bad} samples")
    with np.errstate(over="ignore"):
        x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1)))
        raise InputError(f"{name}: x has values too large for float32 in {bad} samples")
    if y.min() < 0 or (
        n_classes is not None and y.max() >= n_classes
    ):  # on the original dtype: no wrap-around
        top = "C-1" if n_classes is None else str(n_classes - 1)
        raise InputError(f"{name}: labels outside 0..{top} (found {y.min()}..{y.max()})")
    y = y.astype(np.int64, copy=False)
    return Dataset(x, y)


def load_npz(path: str | Path, *, n_classes: int | None = None) -> Dataset:
    """Load arrays `x` and `y` from an .npz file, checked by `check_dataset`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not zipfile.is_zipfile(
        path
    ):  # also a .npy, a text or a truncated file, which np.load treats differently
        raise InputError(f"{path}: not an .npz file (save arrays x and y with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("x", "y") if k not in npz.files]
            if missing:
                raise InputError(
                    f"{path}: missing array {' and '.join(map(repr, missing))} (found {npz.files})"
                )
            x, y = npz["x"], npz["y"]
    except InputError:
        raise
    except (
        OSError,
        ValueError,
        zipfile.BadZipFile,
        EOFError,
        zlib.error,
        MemoryError,
        NotImplementedError,
        RuntimeError,
    ) as exc:  # unsupported compression, encrypted member
        reason = " ".join(str(exc).split())
        raise InputError(f"{path}: not a readable .npz file ({reason})") from None
    return check_dataset(x, y, name=str(path), n_classes=n_classes)


def save_npz(path: str | Path, data: Dataset) -> None:
    """Write a Dataset as an .npz file with arrays `x` and `y`."""
    np.savez_compressed(path, x=data.x, y=data.y)
