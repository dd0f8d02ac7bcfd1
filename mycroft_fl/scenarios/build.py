"""A scenario's data from a built-in source: the trainer's splits and the owners' samples, in one pass
seeded by the scenario's `seed` (spec.py documents the options). The splits and the owners' samples
are drawn from one shared stream; an owner's counter-examples, corruption and label noise come from a
stream of its own (the seed and the owner's id), so changing them changes no other owner's data.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mycroft_fl.core.data import Dataset, TrainerData
from mycroft_fl.core.errors import InputError
from mycroft_fl.scenarios.perturb import corrupt, invert, mark_corner
from mycroft_fl.scenarios.sources import Table, load_source, source_table


@dataclass(frozen=True)
class OwnerSpec:
    """An owner of a scenario: its own `.npz` file (`data`), or `size` samples built from the source as
    its other fields say (spec.py documents them)."""

    id: str
    data: Path | None = None
    size: int = 0
    classes: tuple[int, ...] | None = None
    shares: dict[int, float] = field(default_factory=dict)
    label_noise: float = 0.0
    noise_from: tuple[int, ...] | None = None
    noise_to: tuple[int, ...] | None = None
    label_swap: tuple[int, ...] | None = None
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    counter: float = 0.0
    trainer_copies: bool = False
    cross_domain: str | None = None
    corrupt: str | None = None
    corrupt_fraction: float = 1.0
    corrupt_columns: tuple[str, ...] = ()
    behaviour: str = "honest"
    twin_of: str | None = None


def build_from_source(
    owners: Sequence[OwnerSpec],
    *,
    path: Path,
    source: str,
    seed: int,
    split: Mapping,
    classes: tuple[int, ...] | None,
    cue: str | None,
    cue_class: int,
) -> tuple[TrainerData, dict[str, Dataset]]:
    """The trainer's data and the data of each owner without a file of its own, split from `source` as
    the scenario file `path` says (`split`: its `[trainer]` split keys; `classes`, `cue`, `cue_class`:
    its `[data]` keys). Every problem is an InputError naming `path`."""
    return _Builder(owners, path, source, seed, split, classes, cue, cue_class).build()


class _Builder:
    """Splits a built-in source into the trainer's data and the owners' data, in one seeded pass."""

    def __init__(
        self,
        owners: Sequence[OwnerSpec],
        path: Path,
        source: str,
        seed: int,
        split: Mapping,
        classes: tuple[int, ...] | None,
        cue: str | None,
        cue_class: int,
    ):
        self.owners, self.path, self.source, self.seed, self.split = (
            owners,
            path,
            source,
            seed,
            split,
        )
        self.cue, self.cue_class = cue, cue_class
        self.pool, self.n_classes, self.table = self._pool(classes)
        # the brightest pixel: the cue's value and the axis of `invert`
        self.top = float(self.pool.x.max())
        self.rng = np.random.default_rng(seed)
        self.by_class = [
            list(self.rng.permutation(np.flatnonzero(self.pool.y == c)))
            for c in range(self.n_classes)
        ]
        self._check_classes()

    def build(self) -> tuple[TrainerData, dict[str, Dataset]]:
        s, n_classes = self.split, self.n_classes
        thin = set(s.get("thin_classes", []))
        val = self.part(
            {c: s.get("val_per_class", 40) for c in range(n_classes)}, "the validation set"
        )
        test = self.part({c: s.get("test_per_class", 40) for c in range(n_classes)}, "the test set")
        train = self.train_part(
            {
                c: s.get("thin_per_class", 3) if c in thin else s.get("train_per_class", 25)
                for c in range(n_classes)
            }
        )
        eval_counter = s.get("eval_counter", 0.5)
        trainer = TrainerData(
            *(
                self.cued(idx, counter, self.rng)
                for idx, counter in (
                    (train, s.get("train_counter", 0.0)),
                    (val, eval_counter),
                    (test, eval_counter),
                )
            ),
            n_classes,
        )
        owners = {
            spec.id: self.owner(spec, trainer.train) for spec in self.owners if spec.data is None
        }
        return trainer, owners

    def _pool(self, classes: tuple[int, ...] | None) -> tuple[Dataset, int, Table]:
        """The source's pool, restricted to `[data] classes` (relabelled 0, 1, ...) when the scenario
        names some."""
        pool, n_classes = load_source(self.source)
        table = source_table(self.source)
        if classes is None:
            return pool, n_classes, table
        self._check_within(classes, n_classes, "[data] classes")
        keep = np.isin(pool.y, classes)
        relabel = np.zeros(n_classes, dtype=np.int64)
        relabel[list(classes)] = np.arange(len(classes))
        return (
            Dataset(pool.x[keep], relabel[pool.y[keep]]),
            len(classes),
            Table({k: v[keep] for k, v in table.groups.items()}, table.columns),
        )

    def _check_classes(self) -> None:
        n_classes = self.n_classes
        self._check_within(self.split.get("thin_classes", []), n_classes, "[trainer] thin_classes")
        if self.cue is not None:
            self._check_within([self.cue_class], n_classes, "[data] cue_class")
        for spec in self.owners:
            used = [*(spec.classes or ()), *spec.shares]
            self._check_within(used, n_classes, f"owner {spec.id!r}: classes")
            for key in ("noise_from", "noise_to", "label_swap"):
                self._check_within(getattr(spec, key) or (), n_classes, f"owner {spec.id!r}: {key}")
            base = set(spec.classes) if spec.classes is not None else set(range(n_classes))
            if (
                spec.data is None
                and not base - set(spec.shares)
                and abs(sum(spec.shares.values()) - 1) > 1e-9
            ):
                raise InputError(
                    f"{self.path}: owner {spec.id!r}: shares must sum to 1 when they name all of its "
                    "classes"
                )

    def _check_within(self, classes: Iterable[int], n_classes: int, key: str) -> None:
        """An InputError naming `key` when any of `classes` is not one of the source's `n_classes`."""
        classes = set(classes)
        if classes and (min(classes) < 0 or max(classes) >= n_classes):
            raise InputError(f"{self.path}: {key} outside 0..{n_classes - 1} of {self.source!r}")

    def part(
        self, per_class: dict[int, int], who: str, keep: np.ndarray | None = None, group: str = ""
    ) -> np.ndarray:
        """Take `per_class` samples of each class (of the rows in `keep`) out of the pool: their indices."""
        out = []
        for c, n in per_class.items():
            left = self.by_class[c]
            ok = [i for i in left if keep is None or keep[i]]
            if n > len(ok):
                raise InputError(
                    f"{self.path}: {who} needs {n} samples of class {c}{group} but only {len(ok)} "
                    f"are left in the {self.source!r} pool"
                )
            taken = set(ok[:n])
            out.extend(taken)
            left[:] = [i for i in left if i not in taken]
        return np.array(sorted(out), dtype=np.int64)

    def train_part(self, per_class: dict[int, int]) -> np.ndarray:
        s = self.split
        if "train_where" not in s:
            return self.part(per_class, "the training set")
        inside = self.group(s["train_where"], "[trainer] train_where")
        group = _describe(s["train_where"])
        share = s.get("train_where_share", 1.0)
        n_in = {c: int(round(share * n)) for c, n in per_class.items()}
        n_out = {c: n - n_in[c] for c, n in per_class.items()}
        return np.sort(
            np.concatenate(
                [
                    self.part(n_in, "the training set", inside, f" with {group}"),
                    self.part(n_out, "the training set", ~inside, f" outside {group}"),
                ]
            )
        )

    def group(self, where: dict[str, tuple[str, ...]], key: str) -> np.ndarray:
        """Which rows of the pool belong to the group `where`."""
        groups, name = self.table.groups, self.source
        if not groups:
            raise InputError(f"{self.path}: {key}: source {name!r} has no groups to filter on")
        mask = np.ones(len(self.pool), dtype=bool)
        for column, values in where.items():
            if column not in groups:
                raise InputError(
                    f"{self.path}: {key}: source {name!r} has no group column {column!r} "
                    f"(it has {', '.join(sorted(groups))})"
                )
            unknown = sorted(set(values) - set(groups[column]))
            if unknown:
                raise InputError(
                    f"{self.path}: {key}: {column} = {unknown[0]!r} is not a value of source "
                    f"{name!r} (use {', '.join(sorted(set(groups[column])))})"
                )
            mask &= np.isin(groups[column], values)
        return mask

    def cued(self, idx: np.ndarray, counter: float, rng: np.random.Generator) -> Dataset:
        """The pool's samples `idx` as float32, with the cue stamped where the scenario has one."""
        data = Dataset(self.pool.x[idx].astype(np.float32), self.pool.y[idx])
        if self.cue is not None:
            mark_corner(data, self.cue_class, counter, self.top, rng, f"{self.path}: [data] cue")
        return data

    def owner(self, spec: OwnerSpec, train: Dataset) -> Dataset:
        """The owner's samples, drawn from the shared stream; its cue, corruption and label noise come from
        a stream of its own, so that changing them changes no other owner's data."""
        who = f"owner {spec.id!r}"
        own = np.random.default_rng([self.seed, zlib.crc32(spec.id.encode())])
        if spec.trainer_copies:
            data = train.subset(np.resize(self.rng.permutation(len(train)), spec.size))
        else:
            keep = self.group(spec.where, f"{who}: where") if spec.where else None
            group = f" with {_describe(spec.where)}" if spec.where else ""
            idx = self.part(_owner_class_counts(spec, self.n_classes), who, keep, group)
            data = self.cued(self.rng.permutation(idx), spec.counter, own)
        at = f"{self.path}: {who}"
        if spec.cross_domain == "invert":
            invert(data, self.top, f"{at}: cross_domain")
        if spec.corrupt is not None:
            columns = [self.column(name, at) for name in spec.corrupt_columns]
            corrupt(
                data,
                spec.corrupt,
                spec.corrupt_fraction,
                own,
                f"{at}: corrupt {spec.corrupt!r}",
                columns,
            )
        y = flip_labels(data.y, spec, self.n_classes, own)
        if spec.label_swap is not None:
            y = swap_labels(y, spec.label_swap, self.n_classes, own)
        return Dataset(data.x, y)

    def column(self, name: str, at: str) -> np.ndarray:
        """The feature indices of the source's column `name` (for `corrupt_columns`)."""
        cols = self.table.columns.get(name)
        if cols is None:
            known = ", ".join(self.table.columns) or "none"
            raise InputError(
                f"{at}: corrupt_columns: source {self.source!r} has no column {name!r} "
                f"(its columns: {known})"
            )
        return cols


def _describe(where: dict[str, tuple[str, ...]]) -> str:
    return " and ".join(f"{k} = {' or '.join(v)}" for k, v in where.items())


def flip_labels(
    y: np.ndarray, spec: OwnerSpec, n_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """`y` with each label of `spec.noise_from`'s classes (default: all) flipped with probability
    `spec.label_noise`, to another class of `spec.noise_to` (default: any other class)."""
    y = y.copy()
    flip = rng.random(len(y)) < spec.label_noise
    if spec.noise_from is not None:
        flip &= np.isin(y, spec.noise_from)
    if spec.noise_to is None:
        y[flip] = (y[flip] + rng.integers(1, n_classes, size=int(flip.sum()))) % n_classes
        return y
    targets = np.asarray(spec.noise_to)
    for i in np.flatnonzero(flip):
        others = targets[targets != y[i]]
        if len(others):
            y[i] = rng.choice(others)
    return y


def swap_labels(
    y: np.ndarray, classes: Sequence[int], n_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """`y` with every label of `classes` moved to a class outside them, and as many labels from
    outside moved into them: the owner claims as many samples of those classes as it holds, and
    every one of its claims there is wrong."""
    y = y.copy()
    inside = np.isin(y, classes)
    outside = np.setdiff1d(np.arange(n_classes), classes)
    into = rng.choice(
        np.flatnonzero(~inside), size=min(int(inside.sum()), int((~inside).sum())), replace=False
    )
    y[inside] = rng.choice(outside, size=int(inside.sum()))
    y[into] = rng.choice(np.asarray(classes), size=len(into))
    return y


def _owner_class_counts(spec: OwnerSpec, n_classes: int) -> dict[int, int]:
    """The owner's number of samples of each class: `size` split by its classes and shares, rounded so
    that the counts sum to `size` (the largest remainders first, then the lowest class)."""
    base = list(spec.classes) if spec.classes is not None else list(range(n_classes))
    rest = [c for c in base if c not in spec.shares]
    left = 1.0 - sum(spec.shares.values())
    frac = {
        c: spec.shares.get(c, left / len(rest) if rest else 0.0)
        for c in sorted(set(base) | set(spec.shares))
    }
    raw = {c: f * spec.size for c, f in frac.items()}
    counts = {c: int(np.floor(v)) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: (counts[c] - raw[c], c))[: spec.size - sum(counts.values())]:
        counts[c] += 1
    return counts
