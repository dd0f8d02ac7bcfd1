"""Scenario files (simulations/*.toml): which data, which trainer, which owners.

The trainer's data and each owner's data come either from the user's `.npz` files (paths relative to
the scenario file) or from a built-in source (`[data] source = "digits"`), split by the scenario's
`seed`: stratified validation and test sets, a training set that is thin in `thin_classes`, and
owners drawn without overlap from the rest with a given size, class mix and label noise.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path

import numpy as np

from .data import Dataset, TrainerData, load_npz
from .errors import InputError
from .models import TrainConfig
from .sources import load_source
from .valuation import TrainerConfig

SCENARIO_DIRS = (
    Path(__file__).resolve().parent.parent / "simulations",  # checkout, or a Flower app bundle
    Path(__file__).resolve().parent / "simulations",  # installed wheel
)
_TRAINING_KEYS = {f.name for f in fields(TrainConfig)}
_TRAINER_KEYS = {"model", "embedder", "hard_classes", "query_fraction", "retrain", "combine_top"} | _TRAINING_KEYS
_FILE_KEYS = {"train", "val", "test", "n_classes"}
_SPLIT_KEYS = {"train_per_class", "thin_classes", "thin_per_class", "val_per_class", "test_per_class"}
_OWNER_KEYS = {"id", "data", "size", "classes", "shares", "label_noise", "description"}


@dataclass(frozen=True)
class OwnerSpec:
    """An owner: its own `.npz` file, or `size` samples drawn from the built-in pool with a class mix
    (`classes`: only these, uniformly; `shares`: these fractions for the named classes, the rest spread
    evenly) and a fraction `label_noise` of labels flipped to another class."""

    id: str
    data: Path | None = None
    size: int = 0
    classes: tuple[int, ...] | None = None
    shares: dict[int, float] = field(default_factory=dict)
    label_noise: float = 0.0


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

    @property
    def owner_ids(self) -> list[str]:
        return [o.id for o in self.owners]

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
                raise InputError(f"{spec.data}: samples of shape {data.sample_shape}, but the trainer's are "
                                 f"{trainer.train.sample_shape}")
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
        return _split_source(self)


def _split_source(sc: Scenario) -> tuple[TrainerData, dict[str, Dataset]]:
    pool, n_classes = load_source(sc.source)
    rng = np.random.default_rng(sc.seed)
    by_class = [list(rng.permutation(np.flatnonzero(pool.y == c))) for c in range(n_classes)]
    s = sc.split
    thin = set(s.get("thin_classes", []))
    if thin and max(thin) >= n_classes:
        raise InputError(f"{sc.path}: [trainer] thin_classes outside 0..{n_classes - 1} of {sc.source!r}")
    for spec in sc.owners:
        used = set(spec.classes or ()) | set(spec.shares)
        if used and (min(used) < 0 or max(used) >= n_classes):
            raise InputError(f"{sc.path}: owner {spec.id!r}: classes outside 0..{n_classes - 1} of {sc.source!r}")
        base = set(spec.classes) if spec.classes is not None else set(range(n_classes))
        if spec.data is None and not base - set(spec.shares) and abs(sum(spec.shares.values()) - 1) > 1e-9:
            raise InputError(f"{sc.path}: owner {spec.id!r}: shares must sum to 1 when they name all of its classes")

    def take(c: int, n: int, who: str) -> list[int]:
        if n > len(by_class[c]):
            raise InputError(f"{sc.path}: {who} needs {n} samples of class {c} but only {len(by_class[c])} "
                             f"are left in the {sc.source!r} pool")
        out, by_class[c][:] = by_class[c][:n], by_class[c][n:]
        return out

    def part(per_class: dict[int, int], who: str) -> np.ndarray:
        return np.array(sorted(i for c, n in per_class.items() for i in take(c, n, who)), dtype=np.int64)

    val = part({c: s.get("val_per_class", 40) for c in range(n_classes)}, "the validation set")
    test = part({c: s.get("test_per_class", 40) for c in range(n_classes)}, "the test set")
    train = part({c: s.get("thin_per_class", 3) if c in thin else s.get("train_per_class", 25)
                  for c in range(n_classes)}, "the training set")
    owners = {}
    for spec in sc.owners:
        if spec.data is not None:
            continue
        idx = part(_owner_class_counts(spec, n_classes), f"owner {spec.id!r}")
        idx = rng.permutation(idx)
        x, y = pool.x[idx], pool.y[idx].copy()
        flip = rng.random(len(y)) < spec.label_noise
        y[flip] = (y[flip] + rng.integers(1, n_classes, size=int(flip.sum()))) % n_classes
        owners[spec.id] = Dataset(x, y)
    return TrainerData(pool.subset(train), pool.subset(val), pool.subset(test), n_classes), owners


def _owner_class_counts(spec: OwnerSpec, n_classes: int) -> dict[int, int]:
    base = list(spec.classes) if spec.classes is not None else list(range(n_classes))
    rest = [c for c in base if c not in spec.shares]
    left = 1.0 - sum(spec.shares.values())
    frac = {c: spec.shares.get(c, left / len(rest) if rest else 0.0) for c in sorted(set(base) | set(spec.shares))}
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
    for d in SCENARIO_DIRS:
        if (d / f"{name_or_path}.toml").is_file():
            return d / f"{name_or_path}.toml"
    raise InputError(f"{name_or_path}: no such scenario file")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Parse and check a scenario file; every problem is an InputError naming the file and the key."""
    path = find_scenario(name_or_path).resolve()
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    where = str(path)
    _known(doc, {"name", "seed", "description", "data", "trainer", "owners"}, where)
    seed = _int(doc.get("seed", 0), f"{where}: seed", minimum=0)
    data = _table(doc.get("data", {}), f"{where}: [data]")
    _known(data, {"source"}, f"{where}: [data]")
    source = data.get("source")
    trainer = _table(doc.get("trainer"), f"{where}: [trainer]")
    _known(trainer, _TRAINER_KEYS | _FILE_KEYS | _SPLIT_KEYS, f"{where}: [trainer]")
    files = {k: trainer[k] for k in ("train", "val", "test") if k in trainer}
    if files and len(files) < 3:
        raise InputError(f"{where}: [trainer] needs all of train, val and test files (missing "
                         f"{', '.join(k for k in ('train', 'val', 'test') if k not in files)})")
    if not files and source is None:
        raise InputError(f"{where}: [trainer] needs train, val and test files, or [data] source = \"digits\"")
    if source is not None:
        try:
            load_source(str(source))  # fails early on an unknown source
        except InputError as exc:
            raise InputError(f"{where}: [data] {exc}") from None
    owners = doc.get("owners")
    if not isinstance(owners, list) or not owners:
        raise InputError(f"{where}: no [[owners]]")
    specs = [_owner(o, i, path, source) for i, o in enumerate(owners)]
    ids = [o.id for o in specs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"{where}: duplicate owner id {dup[0]!r}")
    for key in _SPLIT_KEYS & set(trainer):
        if key == "thin_classes":
            _classes(trainer[key], f"{where}: [trainer] thin_classes", allow_empty=True)
        else:
            _int(trainer[key], f"{where}: [trainer] {key}", minimum=0 if key == "thin_per_class" else 1)
    if "hard_classes" in trainer:
        _classes(trainer["hard_classes"], f"{where}: [trainer] hard_classes")
    qf = trainer.get("query_fraction", 0.5)
    if not isinstance(qf, (int, float)) or isinstance(qf, bool) or not 0 < qf < 1:
        raise InputError(f"{where}: [trainer] query_fraction must be a fraction in (0, 1), got {qf!r}")
    try:
        config = TrainerConfig(
            training=TrainConfig(**{k: trainer[k] for k in _TRAINING_KEYS if k in trainer}),
            hard_classes=tuple(trainer["hard_classes"]) if "hard_classes" in trainer else None,
            **{k: trainer[k] for k in ("model", "embedder", "query_fraction", "retrain", "combine_top") if k in trainer},
        )
    except (TypeError, InputError) as exc:
        raise InputError(f"{where}: [trainer] {exc}") from None
    return Scenario(
        name=str(doc.get("name", path.stem)), path=path, seed=seed, trainer=config, owners=specs,
        source=None if source is None else str(source),
        trainer_files={k: _file(v, path, f"[trainer] {k}") for k, v in files.items()} if files else None,
        n_classes=_int(trainer["n_classes"], f"{where}: n_classes", minimum=2) if "n_classes" in trainer else None,
        split={k: trainer[k] for k in _SPLIT_KEYS if k in trainer},
    )


def _owner(doc: object, i: int, path: Path, source: object) -> OwnerSpec:
    where = f"{path}: owner {i + 1}"
    doc = _table(doc, where)
    if "id" not in doc or not isinstance(doc["id"], str) or not doc["id"]:
        raise InputError(f"{where}: needs an id (a non-empty string)")
    where = f"{path}: owner {doc['id']!r}"
    _known(doc, _OWNER_KEYS, where)
    if "data" in doc:
        extra = sorted(set(doc) - {"id", "data", "description"})
        if extra:
            raise InputError(f"{where}: {extra[0]!r} applies to built-in owners, not to a data file")
        return OwnerSpec(doc["id"], data=_file(doc["data"], path, f"owner {doc['id']!r} data"))
    if source is None:
        raise InputError(f"{where}: needs a data file (data = \"owner.npz\") or a built-in [data] source")
    shares = _table(doc.get("shares", {}), f"{where}: shares")
    try:
        shares = {int(k): float(v) for k, v in shares.items()}
    except (TypeError, ValueError):
        raise InputError(f"{where}: shares must map class numbers to fractions") from None
    if any(v < 0 for v in shares.values()) or sum(shares.values()) > 1 + 1e-9:
        raise InputError(f"{where}: shares must be fractions >= 0 that sum to at most 1")
    noise = doc.get("label_noise", 0.0)
    if not isinstance(noise, (int, float)) or isinstance(noise, bool) or not 0 <= noise <= 1:
        raise InputError(f"{where}: label_noise must be a fraction in [0, 1], got {noise!r}")
    classes = doc.get("classes")
    if classes is not None:
        _classes(classes, f"{where}: classes")
    return OwnerSpec(doc["id"], size=_int(doc.get("size"), f"{where}: size", minimum=1),
                     classes=None if classes is None else tuple(classes), shares=shares, label_noise=float(noise))


def _classes(value: object, where: str, *, allow_empty: bool = False) -> list[int]:
    if (not isinstance(value, list) or not (value or allow_empty)
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in value)):
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


def _file(value: object, scenario: Path, what: str) -> Path:
    if not isinstance(value, str):
        raise InputError(f"{scenario}: {what} must be a file path, got {value!r}")
    return (scenario.parent / value).resolve()
