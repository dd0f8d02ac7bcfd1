"""Built-in data sources: real labelled data that ships with a dependency and works offline."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .data import Dataset
from .errors import InputError

SOURCES = ("digits",)


@lru_cache(maxsize=4)
def load_source(name: str) -> tuple[Dataset, int]:
    """The whole labelled pool of a built-in source and its number of classes."""
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return Dataset(bunch.data.astype(np.float32), bunch.target.astype(np.int64)), 10
    raise InputError(f"unknown data source {name!r}: use one of {', '.join(SOURCES)}")
