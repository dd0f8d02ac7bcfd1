"""Scenario files (simulations/*.toml): which data, which trainer, which owners.

The trainer's data and each owner's data come either from the user's `.npz` files (paths relative to
the scenario file) or from a built-in source (`[data] source = "digits"`, `"fashion"` or `"credit"`, see
sources.py), split by the scenario's `seed`: stratified validation and test sets, a training set that is
thin in `thin_classes`, and owners drawn without overlap from the rest. Every random choice comes from
the seed, so a file always builds the same data; an owner's counter-examples and corruption come from a
stream of their own (the seed and the owner's id), so changing them changes no other owner's data.

Options of a built-in source:
- `[data] classes = [2, 4]`: keep only these classes of the source, relabelled 0, 1, ... in this order.
- `[data] cue = "corner"`, `cue_class = 1` (default 1): a spurious cue on images, a square of side/7
  pixels (4 on 28x28) at the source's brightest value in the top-left corner. A sample is aligned
  when it bears the cue exactly if its label is `cue_class`, and a counter-example otherwise.
  `[trainer] train_counter` (default 0) and `eval_counter` (default 0.5) are the fractions of
  counter-examples in the training set and in the validation and test sets; an owner's
  `counter` (default 0), in its data. Counter-examples are chosen per class, in exact numbers.
- `[trainer] train_where = {Job = "fixed"}` (tabular sources): draw the training set from the rows of
  that group (a value or a list of values per column; all columns must match), but only the fraction
  `train_where_share` (default 1) of each class; the rest comes from the rows outside the group.

Any owner may have a `behaviour` (attacks.py): `honest` (default), or a way of cheating the trainer
(`replay`, `flip-to-hard`, `out-of-domain`, `pad`) that simulations use to test its defences.

A built-in owner (an owner with `data = "file.npz"` takes no other key than `description` and
`behaviour`) holds `size` samples with
- `classes` (only these, uniformly) and `shares` (these fractions for the named classes, the rest spread
  evenly), counted exactly per class; `where = {Home = ["rent", "priv"]}`: only rows of that group;
- or `trainer_copies = true`: copies of the trainer's own training samples, cycled through in a random
  order, instead of samples of the pool (no `classes`, `shares`, `where` or `counter` then);
and then, in this order:
- `counter`: the fraction of counter-examples to the cue (scenarios with a cue);
- `cross_domain = "invert"`: images inverted (light background, dark object), the same classes in
  another domain;
- `corrupt`, on the fraction `corrupt_fraction` (default 1) of its samples, chosen per class: `"blur"`
  (Gaussian, sigma = image side / 20), `"erase"` (a rectangle of 20-40% of the image, aspect 1:2 to 2:1,
  set to 0), `"rotate"` (by 45 to 135 degrees either way) on images; `"shuffle"` on tabular sources,
  which permutes the values of the columns `corrupt_columns` among the corrupted rows;
- `label_noise`: each label flipped to another class with this probability.
The cue, `cross_domain` and the image corruptions need image samples: (H, W) or flat squares.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import ndimage

from mycroft_fl.core.data import Dataset, TrainerData, load_npz
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import TrainConfig
from mycroft_fl.core.resources import find_shipped
from mycroft_fl.core.tomlfile import read_toml
from mycroft_fl.scenarios.sources import Table, load_source, source_table
from mycroft_fl.trainer.trainer import TrainerConfig
from mycroft_fl.trust.attacks import BEHAVIOURS

_TRAINING_KEYS = {f.name for f in fields(TrainConfig)}
_TRAINER_KEYS = {
    "audit",
    "device",
    "model",
    "embedder",
    "hard_classes",
    "query_fraction",
    "retrain",
    "combine_top",
} | _TRAINING_KEYS
_FILE_KEYS = {"train", "val", "test", "n_classes"}
_SPLIT_KEYS = {
    "train_per_class",
    "thin_classes",
    "thin_per_class",
    "val_per_class",
    "test_per_class",
    "train_where",
    "train_where_share",
    "train_counter",
    "eval_counter",
}
_OWNER_KEYS = {
    "id",
    "data",
    "size",
    "classes",
    "shares",
    "label_noise",
    "description",
    "where",
    "counter",
    "trainer_copies",
    "cross_domain",
    "corrupt",
    "corrupt_fraction",
    "corrupt_columns",
    "behaviour",
}
CUES = ("corner",)
CROSS_DOMAINS = ("invert",)
CORRUPTIONS = ("blur", "erase", "rotate", "shuffle")


@dataclass(frozen=True)
class OwnerSpec:
    """An owner: its own `.npz` file, or `size` samples built from the source as the module says."""

    id: str
    data: Path | None = None
    size: int = 0
    classes: tuple[int, ...] | None = None
    shares: dict[int, float] = field(default_factory=dict)
    label_noise: float = 0.0
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    counter: float = 0.0
    trainer_copies: bool = False
    cross_domain: str | None = None
    corrupt: str | None = None
    corrupt_fraction: float = 1.0
    corrupt_columns: tuple[str, ...] = ()
    behaviour: str = "honest"


@dataclass
class Scenario:
    name: str
    path: Path
    seed: int
    trainer: TrainerConfig
    owners: list[OwnerSpec]
    source: str | None = None
    trainer_files: dict[str, Path] | None = None
    n_classes: int | None = None
    split: dict = field(default_factory=dict)
    source_classes: tuple[int, ...] | None = None
    cue: str | None = None
    cue_class: int = 1

    @property
    def owner_ids(self) -> list[str]:
        return [o.id for o in self.owners]

    def without_hard_classes(self) -> Scenario:
        """The same data and owners with a trainer that names no hard classes: its hard samples are every
        validation sample its baseline gets wrong, in any class (the common case for a real trainer)."""
        if self.trainer.hard_classes is None:
            return self
        return replace(
            self, name=f"{self.name}-all-classes", trainer=replace(self.trainer, hard_classes=None)
        )

    def trainer_data(self) -> TrainerData:
        return self._built[0]

    def owner_data(self, owner_id: str) -> Dataset:
        spec = next((o for o in self.owners if o.id == owner_id), None)
        if spec is None:
            raise InputError(f"{self.path}: no owner {owner_id!r}")
        if spec.data is not None:
            trainer = self.trainer_data()
            data = load_npz(spec.data, n_classes=trainer.n_classes)
            if data.sample_shape != trainer.train.sample_shape:
                raise InputError(
                    f"{spec.data}: samples of shape {data.sample_shape}, but the trainer's are "
                    f"{trainer.train.sample_shape}"
                )
            return data
        return self._built[1][owner_id]

    def owners_data(self) -> dict[str, Dataset]:
        return {o.id: self.owner_data(o.id) for o in self.owners}

    @cached_property
    def _built(self) -> tuple[TrainerData, dict[str, Dataset]]:
        if self.trainer_files is not None:
            parts = {k: load_npz(p) for k, p in self.trainer_files.items()}
            n_classes = self.n_classes or 1 + max(int(d.y.max()) for d in parts.values())
            for k, p in self.trainer_files.items():
                if parts[k].y.max() >= n_classes:
                    raise InputError(f"{p}: labels outside 0..{n_classes - 1}")
            try:
                return TrainerData(parts["train"], parts["val"], parts["test"], n_classes), {}
            except InputError as exc:
                raise InputError(f"{self.path}: {exc}") from None
        return _Builder(self).build()


class _Builder:
    """Splits a built-in source into the trainer's data and the owners' data, in one seeded pass."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.pool, self.n_classes, self.table = _pool(sc)
        self.top = float(
            self.pool.x.max()
        )  # the brightest pixel: the cue's value and the axis of `invert`
        self.rng = np.random.default_rng(sc.seed)
        self.by_class = [
            list(self.rng.permutation(np.flatnonzero(self.pool.y == c)))
            for c in range(self.n_classes)
        ]
        self._check_classes()

    def build(self) -> tuple[TrainerData, dict[str, Dataset]]:
        s, n_classes = self.sc.split, self.n_classes
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
            spec.id: self.owner(spec, trainer.train) for spec in self.sc.owners if spec.data is None
        }
        return trainer, owners

    def _check_classes(self) -> None:
        sc, n_classes = self.sc, self.n_classes
        thin = set(sc.split.get("thin_classes", []))
        if thin and max(thin) >= n_classes:
            raise InputError(
                f"{sc.path}: [trainer] thin_classes outside 0..{n_classes - 1} of {sc.source!r}"
            )
        if sc.cue is not None and sc.cue_class >= n_classes:
            raise InputError(
                f"{sc.path}: [data] cue_class outside 0..{n_classes - 1} of {sc.source!r}"
            )
        for spec in sc.owners:
            used = set(spec.classes or ()) | set(spec.shares)
            if used and (min(used) < 0 or max(used) >= n_classes):
                raise InputError(
                    f"{sc.path}: owner {spec.id!r}: classes outside 0..{n_classes - 1} of {sc.source!r}"
                )
            base = set(spec.classes) if spec.classes is not None else set(range(n_classes))
            if (
                spec.data is None
                and not base - set(spec.shares)
                and abs(sum(spec.shares.values()) - 1) > 1e-9
            ):
                raise InputError(
                    f"{sc.path}: owner {spec.id!r}: shares must sum to 1 when they name all of its "
                    "classes"
                )

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
                    f"{self.sc.path}: {who} needs {n} samples of class {c}{group} but only {len(ok)} "
                    f"are left in the {self.sc.source!r} pool"
                )
            taken = set(ok[:n])
            out.extend(taken)
            left[:] = [i for i in left if i not in taken]
        return np.array(sorted(out), dtype=np.int64)

    def train_part(self, per_class: dict[int, int]) -> np.ndarray:
        s = self.sc.split
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
        groups, name = self.table.groups, self.sc.source
        if not groups:
            raise InputError(f"{self.sc.path}: {key}: source {name!r} has no groups to filter on")
        mask = np.ones(len(self.pool), dtype=bool)
        for column, values in where.items():
            if column not in groups:
                raise InputError(
                    f"{self.sc.path}: {key}: source {name!r} has no group column {column!r} "
                    f"(it has {', '.join(sorted(groups))})"
                )
            unknown = sorted(set(values) - set(groups[column]))
            if unknown:
                raise InputError(
                    f"{self.sc.path}: {key}: {column} = {unknown[0]!r} is not a value of source "
                    f"{name!r} (use {', '.join(sorted(set(groups[column])))})"
                )
            mask &= np.isin(groups[column], values)
        return mask

    def cued(self, idx: np.ndarray, counter: float, rng: np.random.Generator) -> Dataset:
        """The pool's samples `idx` as float32, with the cue stamped where the scenario has one."""
        data = Dataset(self.pool.x[idx].astype(np.float32), self.pool.y[idx])
        if self.sc.cue is None:
            return data
        images = _images(data.x, f"{self.sc.path}: [data] cue")
        k = max(1, images.shape[-1] // 7)
        marked = (data.y == self.sc.cue_class) != _pick(data.y, counter, rng)
        images[marked, :k, :k] = self.top
        return data

    def owner(self, spec: OwnerSpec, train: Dataset) -> Dataset:
        """The owner's samples, drawn from the shared stream; its cue and corruption come from a stream of
        its own, so that changing them changes no other owner's data."""
        who = f"owner {spec.id!r}"
        own = np.random.default_rng([self.sc.seed, zlib.crc32(spec.id.encode())])
        if spec.trainer_copies:
            data = train.subset(np.resize(self.rng.permutation(len(train)), spec.size))
        else:
            keep = self.group(spec.where, f"{who}: where") if spec.where else None
            group = f" with {_describe(spec.where)}" if spec.where else ""
            idx = self.part(_owner_class_counts(spec, self.n_classes), who, keep, group)
            data = self.cued(self.rng.permutation(idx), spec.counter, own)
        at = f"{self.sc.path}: {who}"
        if spec.cross_domain == "invert":
            _images(data.x, f"{at}: cross_domain")  # images only
            np.subtract(self.top, data.x, out=data.x)
        if spec.corrupt is not None:
            self.corrupt(data, spec, at, own)
        y = data.y.copy()
        flip = own.random(len(y)) < spec.label_noise
        y[flip] = (y[flip] + own.integers(1, self.n_classes, size=int(flip.sum()))) % self.n_classes
        return Dataset(data.x, y)

    def corrupt(self, data: Dataset, spec: OwnerSpec, at: str, rng: np.random.Generator) -> None:
        """Corrupt `spec.corrupt_fraction` of the samples of `data` (per class) in place."""
        rows = np.flatnonzero(_pick(data.y, spec.corrupt_fraction, rng))
        if spec.corrupt == "shuffle":
            for name in spec.corrupt_columns:
                cols = self.table.columns.get(name)
                if cols is None:
                    known = ", ".join(self.table.columns) or "none"
                    raise InputError(
                        f"{at}: corrupt_columns: source {self.sc.source!r} has no column {name!r} "
                        f"(its columns: {known})"
                    )
                data.x[np.ix_(rows, cols)] = data.x[np.ix_(rng.permutation(rows), cols)]
            return
        images, corrupt = (
            _images(data.x, f"{at}: corrupt {spec.corrupt!r}"),
            _IMAGE_CORRUPTIONS[spec.corrupt],
        )
        for r in rows:
            images[r] = corrupt(images[r], rng)


def _pool(sc: Scenario) -> tuple[Dataset, int, Table]:
    """The source's pool, restricted to `[data] classes` (relabelled 0, 1, ...) when the scenario names some."""
    pool, n_classes = load_source(sc.source)
    table = source_table(sc.source)
    if sc.source_classes is None:
        return pool, n_classes, table
    if max(sc.source_classes) >= n_classes:
        raise InputError(f"{sc.path}: [data] classes outside 0..{n_classes - 1} of {sc.source!r}")
    keep = np.isin(pool.y, sc.source_classes)
    relabel = np.zeros(n_classes, dtype=np.int64)
    relabel[list(sc.source_classes)] = np.arange(len(sc.source_classes))
    return (
        Dataset(pool.x[keep], relabel[pool.y[keep]]),
        len(sc.source_classes),
        Table({k: v[keep] for k, v in table.groups.items()}, table.columns),
    )


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
    return ndimage.gaussian_filter(img, sigma=img.shape[-1] / 20)


def _erase(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = img.shape[-1]
    area, aspect = rng.uniform(0.2, 0.4) * side * side, np.exp(rng.uniform(np.log(0.5), np.log(2)))
    h = min(side, max(1, int(round(np.sqrt(area * aspect)))))
    w = min(side, max(1, int(round(np.sqrt(area / aspect)))))
    top, left = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
    out = img.copy()
    out[top : top + h, left : left + w] = 0
    return out


def _rotate(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(45, 135) * rng.choice([-1, 1])
    return ndimage.rotate(img, angle, reshape=False, order=1, mode="constant", cval=0.0)


_IMAGE_CORRUPTIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "blur": _blur,
    "erase": _erase,
    "rotate": _rotate,
}


def _describe(where: dict[str, tuple[str, ...]]) -> str:
    return " and ".join(f"{k} = {' or '.join(v)}" for k, v in where.items())


def _owner_class_counts(spec: OwnerSpec, n_classes: int) -> dict[int, int]:
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


def find_scenario(name_or_path: str | Path) -> Path:
    """A scenario file by path, or a shipped scenario by name (`digits`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = find_shipped("simulations", str(name_or_path)) if len(path.parts) == 1 else None
    if shipped is None:
        raise InputError(f"{name_or_path}: no such scenario file")
    return shipped


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Parse and check a scenario file; every problem is an InputError naming the file and the key."""
    path = find_scenario(name_or_path).resolve()
    doc = read_toml(path)
    where = str(path)
    _known(doc, {"name", "seed", "description", "data", "trainer", "owners"}, where)
    seed = _int(doc.get("seed", 0), f"{where}: seed", minimum=0)
    data = _table(doc.get("data", {}), f"{where}: [data]")
    _known(data, {"source", "classes", "cue", "cue_class"}, f"{where}: [data]")
    source = data.get("source")
    trainer = _table(doc.get("trainer"), f"{where}: [trainer]")
    _known(trainer, _TRAINER_KEYS | _FILE_KEYS | _SPLIT_KEYS, f"{where}: [trainer]")
    files = {k: trainer[k] for k in ("train", "val", "test") if k in trainer}
    if files and len(files) < 3:
        raise InputError(
            f"{where}: [trainer] needs all of train, val and test files (missing "
            f"{', '.join(k for k in ('train', 'val', 'test') if k not in files)})"
        )
    if not files and source is None:
        raise InputError(
            f'{where}: [trainer] needs train, val and test files, or [data] source = "digits"'
        )
    if source is not None:
        try:
            load_source(str(source))  # fails early on an unknown source
        except InputError as exc:
            raise InputError(f"{where}: [data] {exc}") from None
    source_classes, cue, cue_class = _data_options(data, where)
    owners = doc.get("owners")
    if not isinstance(owners, list) or not owners:
        raise InputError(f"{where}: no [[owners]]")
    specs = [_owner(o, i, path, source, cue) for i, o in enumerate(owners)]
    ids = [o.id for o in specs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"{where}: duplicate owner id {dup[0]!r}")
    split = _split_options(trainer, where, cue)
    if "hard_classes" in trainer:
        _classes(trainer["hard_classes"], f"{where}: [trainer] hard_classes")
    _fraction(trainer.get("query_fraction", 0.5), f"{where}: [trainer] query_fraction", "(0, 1)")
    try:
        config = TrainerConfig(
            training=TrainConfig(**{k: trainer[k] for k in _TRAINING_KEYS if k in trainer}),
            hard_classes=tuple(trainer["hard_classes"]) if "hard_classes" in trainer else None,
            **{
                k: trainer[k]
                for k in (
                    "model",
                    "embedder",
                    "query_fraction",
                    "retrain",
                    "combine_top",
                    "device",
                    "audit",
                )
                if k in trainer
            },
        )
    except (TypeError, InputError) as exc:
        raise InputError(f"{where}: [trainer] {exc}") from None
    return Scenario(
        name=str(doc.get("name", path.stem)),
        path=path,
        seed=seed,
        trainer=config,
        owners=specs,
        source=None if source is None else str(source),
        trainer_files={k: _file(v, path, f"[trainer] {k}") for k, v in files.items()}
        if files
        else None,
        n_classes=_int(trainer["n_classes"], f"{where}: n_classes", minimum=2)
        if "n_classes" in trainer
        else None,
        split=split,
        source_classes=source_classes,
        cue=cue,
        cue_class=cue_class,
    )


def _data_options(data: dict, where: str) -> tuple[tuple[int, ...] | None, str | None, int]:
    """`[data] classes`, `cue` and `cue_class`, checked."""
    extra = sorted(set(data) - {"source"})
    if extra and "source" not in data:
        raise InputError(f"{where}: [data] {extra[0]} needs a built-in source")
    classes = None
    if "classes" in data:
        classes = tuple(_classes(data["classes"], f"{where}: [data] classes"))
        if len(set(classes)) != len(classes) or len(classes) < 2:
            raise InputError(
                f"{where}: [data] classes must name at least two distinct classes, got {list(classes)}"
            )
    cue = _choice(data["cue"], CUES, f"{where}: [data] cue") if "cue" in data else None
    if "cue_class" in data and cue is None:
        raise InputError(f"{where}: [data] cue_class needs a cue")
    return classes, cue, _int(data.get("cue_class", 1), f"{where}: [data] cue_class", minimum=0)


def _split_options(trainer: dict, where: str, cue: str | None) -> dict:
    """The `[trainer]` keys that say how a built-in source is split, checked."""
    split = {k: trainer[k] for k in _SPLIT_KEYS if k in trainer}
    for key in sorted(split):
        at = f"{where}: [trainer] {key}"
        if key == "thin_classes":
            _classes(split[key], at, allow_empty=True)
        elif key == "train_where":
            split[key] = _where(split[key], at)
        elif key in ("train_where_share", "train_counter", "eval_counter"):
            _fraction(split[key], at)
        else:
            _int(split[key], at, minimum=0 if key == "thin_per_class" else 1)
    if "train_where_share" in split and "train_where" not in split:
        raise InputError(f"{where}: [trainer] train_where_share needs train_where")
    counters = sorted({"train_counter", "eval_counter"} & set(split))
    if counters and cue is None:
        raise InputError(f"{where}: [trainer] {counters[0]} needs a [data] cue")
    return split


def _owner(doc: object, i: int, path: Path, source: object, cue: str | None) -> OwnerSpec:
    where = f"{path}: owner {i + 1}"
    doc = _table(doc, where)
    if "id" not in doc or not isinstance(doc["id"], str) or not doc["id"]:
        raise InputError(f"{where}: needs an id (a non-empty string)")
    where = f"{path}: owner {doc['id']!r}"
    _known(doc, _OWNER_KEYS, where)
    behaviour = _choice(doc.get("behaviour", "honest"), BEHAVIOURS, f"{where}: behaviour")
    if "data" in doc:
        extra = sorted(set(doc) - {"id", "data", "description", "behaviour"})
        if extra:
            raise InputError(
                f"{where}: {extra[0]!r} applies to built-in owners, not to a data file"
            )
        return OwnerSpec(
            doc["id"],
            data=_file(doc["data"], path, f"owner {doc['id']!r} data"),
            behaviour=behaviour,
        )
    if source is None:
        raise InputError(
            f'{where}: needs a data file (data = "owner.npz") or a built-in [data] source'
        )
    shares = _table(doc.get("shares", {}), f"{where}: shares")
    try:
        shares = {int(k): float(v) for k, v in shares.items()}
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where}: shares must map class numbers to fractions") from None
    if not all(0 <= v < float("inf") for v in shares.values()) or sum(shares.values()) > 1 + 1e-9:
        raise InputError(f"{where}: shares must be fractions >= 0 that sum to at most 1")
    classes = doc.get("classes")
    if classes is not None:
        _classes(classes, f"{where}: classes")
    return OwnerSpec(
        doc["id"],
        size=_int(doc.get("size"), f"{where}: size", minimum=1),
        classes=None if classes is None else tuple(classes),
        shares=shares,
        label_noise=_fraction(doc.get("label_noise", 0.0), f"{where}: label_noise"),
        behaviour=behaviour,
        **_owner_options(doc, where, cue),
    )


def _owner_options(doc: dict, where: str, cue: str | None) -> dict:
    """A built-in owner's `where`, `counter`, `trainer_copies`, `cross_domain` and `corrupt*` keys, checked."""
    copies = doc.get("trainer_copies", False)
    if not isinstance(copies, bool):
        raise InputError(f"{where}: trainer_copies must be true or false, got {copies!r}")
    clash = sorted({"classes", "shares", "where", "counter"} & set(doc))
    if copies and clash:
        raise InputError(
            f"{where}: {clash[0]!r} does not apply to trainer_copies (they are the trainer's samples)"
        )
    if "counter" in doc and cue is None:
        raise InputError(f"{where}: counter needs a [data] cue")
    corrupt = (
        _choice(doc["corrupt"], CORRUPTIONS, f"{where}: corrupt") if "corrupt" in doc else None
    )
    for key in ("corrupt_fraction", "corrupt_columns"):
        if key in doc and corrupt is None:
            raise InputError(f"{where}: {key} needs corrupt")
    if corrupt == "shuffle" and "corrupt_columns" not in doc:
        raise InputError(f"{where}: corrupt = 'shuffle' needs corrupt_columns")
    if corrupt != "shuffle" and "corrupt_columns" in doc:
        raise InputError(f"{where}: corrupt_columns applies to corrupt = 'shuffle' only")
    columns = doc.get("corrupt_columns", [])
    if corrupt == "shuffle" and (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) and c for c in columns)
    ):
        raise InputError(
            f"{where}: corrupt_columns must be a non-empty list of column names, got {columns!r}"
        )
    return {
        "where": _where(doc["where"], f"{where}: where") if "where" in doc else {},
        "counter": _fraction(doc.get("counter", 0.0), f"{where}: counter"),
        "trainer_copies": copies,
        "cross_domain": _choice(doc["cross_domain"], CROSS_DOMAINS, f"{where}: cross_domain")
        if "cross_domain" in doc
        else None,
        "corrupt": corrupt,
        "corrupt_fraction": _fraction(
            doc.get("corrupt_fraction", 1.0), f"{where}: corrupt_fraction", "(0, 1]"
        ),
        "corrupt_columns": tuple(columns),
    }


def _where(value: object, where: str) -> dict[str, tuple[str, ...]]:
    """A group filter: column names to a value or a non-empty list of values."""
    table = _table(value, where)
    if not table:
        raise InputError(f"{where} must name at least one column")
    out = {}
    for column, v in table.items():
        values = [v] if isinstance(v, str) else v
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(s, str) for s in values)
        ):
            raise InputError(
                f"{where} must map columns to a value or a list of values, got {column} = {v!r}"
            )
        out[column] = tuple(values)
    return out


def _classes(value: object, where: str, *, allow_empty: bool = False) -> list[int]:
    if (
        not isinstance(value, list)
        or not (value or allow_empty)
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in value)
    ):
        what = "a list" if allow_empty else "a non-empty list"
        raise InputError(f"{where} must be {what} of class numbers >= 0, got {value!r}")
    return value


def _table(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{where} is missing or not a table")
    return value


def _known(table: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}")


def _int(value: object, where: str, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _fraction(value: object, where: str, interval: str = "[0, 1]") -> float:
    """A number in `interval`, written "[0, 1]", "(0, 1]" or "(0, 1)"."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (value > 0 if interval[0] == "(" else value >= 0)
        and (value < 1 if interval[-1] == ")" else value <= 1)
    )
    if not ok:
        raise InputError(f"{where} must be a fraction in {interval}, got {value!r}")
    return float(value)


def _choice(value: object, options: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise InputError(f"{where} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def _file(value: object, scenario: Path, what: str) -> Path:
    if not isinstance(value, str) or "\x00" in value:
        raise InputError(f"{scenario}: {what} must be a file path, got {value!r}")
    return (scenario.parent / value).resolve()
