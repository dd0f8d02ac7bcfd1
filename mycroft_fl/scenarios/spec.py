"""Scenario files (simulations/*.toml): which data, which trainer, which owners.

The trainer's data and each owner's data come either from the user's `.npz` files (paths relative to
the scenario file) or from a built-in source (`[data] source = "digits"`, `"fashion"` or `"credit"`, see
sources.py), split by the scenario's `seed` (build.py): stratified validation and test sets, a training
set that is thin in `thin_classes`, and owners drawn without overlap from the rest. Every random choice
comes from the seed, so a file always builds the same data; an owner's counter-examples and corruption
(perturb.py) come from a stream of their own (the seed and the owner's id), so changing them changes no
other owner's data. This module reads and checks the file: the keys' values by the core/params rules
of the `_*_RULES` tables below; every problem is an InputError naming the file and the key.

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
- `label_noise`: each label flipped to another class with this probability; `noise_from = [8, 9]`
  flips only labels of these classes (noise away from them), `noise_to = [8, 9]` flips labels only
  to these classes (noise toward them);
- `label_swap = [8, 9]`: every label of these classes moved to a class outside them, and as many
  labels from outside moved into them (as many claims of these classes as it holds, every one wrong).
The cue, `cross_domain` and the image corruptions need image samples: (H, W) or flat squares.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from mycroft_fl.core.data import Dataset, TrainerData, load_npz
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import TrainConfig
from mycroft_fl.core.params import (
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    AnyOf,
    Boolean,
    Constraint,
    Interval,
    ListOf,
    Options,
    Text,
    check_params,
    check_value,
)
from mycroft_fl.core.resources import find_shipped
from mycroft_fl.core.tomlfile import read_toml
from mycroft_fl.scenarios.build import OwnerSpec, build_from_source
from mycroft_fl.scenarios.perturb import CORRUPTIONS, CROSS_DOMAINS, CUES
from mycroft_fl.scenarios.sources import load_source
from mycroft_fl.trainer.trainer import TrainerConfig
from mycroft_fl.trust.attacks import BEHAVIOURS, HELD, held_data

_CLASSES = ListOf(NON_NEGATIVE_INT)  # class numbers
#: A group filter's values for one column: a value or a non-empty list of values.
_GROUP_VALUES = AnyOf((Text(), ListOf(Text())))

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
#: The rules of the `[trainer]` keys that TrainerConfig does not check itself.
_TRAINER_RULES: dict[str, Constraint] = {
    "hard_classes": _CLASSES,
    "n_classes": Interval(int, 2, None),
}
#: The `[trainer]` keys that say how a built-in source is split (and `train_where`, a group filter).
_SPLIT_RULES: dict[str, Constraint] = {
    "train_per_class": POSITIVE_INT,
    "thin_classes": ListOf(NON_NEGATIVE_INT, minimum=0),
    "thin_per_class": NON_NEGATIVE_INT,
    "val_per_class": POSITIVE_INT,
    "test_per_class": POSITIVE_INT,
    "train_where_share": FRACTION,
    "train_counter": FRACTION,
    "eval_counter": FRACTION,
}
_SPLIT_KEYS = {*_SPLIT_RULES, "train_where"}
_DATA_RULES: dict[str, Constraint] = {
    "classes": ListOf(NON_NEGATIVE_INT, minimum=2, distinct=True),
    "cue": Options(CUES),
    "cue_class": NON_NEGATIVE_INT,
}
#: A built-in owner's optional keys (`size` is required; `where` and `shares` are tables).
_OWNER_RULES: dict[str, Constraint] = {
    "classes": _CLASSES,
    "label_noise": FRACTION,
    "noise_from": ListOf(NON_NEGATIVE_INT, minimum=1, distinct=True),
    "noise_to": ListOf(NON_NEGATIVE_INT, minimum=1, distinct=True),
    "label_swap": ListOf(NON_NEGATIVE_INT, minimum=1, distinct=True),
    "counter": FRACTION,
    "trainer_copies": Boolean(),
    "cross_domain": Options(CROSS_DOMAINS),
    "corrupt": Options(CORRUPTIONS),
    "corrupt_fraction": Interval(float, 0, 1, closed="right"),
    "corrupt_columns": ListOf(Text()),
}
_OWNER_KEYS = {
    "id",
    "data",
    "size",
    "shares",
    "description",
    "where",
    "behaviour",
    "twin_of",
    *_OWNER_RULES,
}


@dataclass
class Scenario:
    """A scenario file, checked: its trainer, its owners, and where their data comes from."""

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
        """What owner `owner_id` holds (and commits to): its data, as a scripted cheat in what it
        holds has it (`trust.attacks.held_data`; a twin holds a copy of another owner's)."""
        spec = self._spec(owner_id)
        if spec.behaviour not in HELD:
            return self._own_data(spec)
        return held_data(
            spec.behaviour,
            self._own_data(spec if spec.twin_of is None else self._spec(spec.twin_of)),
            targets=self.thin_classes(),
            seed=zlib.crc32(f"{self.seed}:{spec.id}".encode()),
        )

    def thin_classes(self) -> list[int]:
        """The classes the trainer is thin in, which a scripted cheater is taken to know: those it
        names hard, else those its training set holds fewest of."""
        if self.trainer.hard_classes is not None:
            return list(self.trainer.hard_classes)
        counts = np.bincount(self.trainer_data().train.y, minlength=self.trainer_data().n_classes)
        return np.flatnonzero(counts == counts.min()).tolist()

    def _spec(self, owner_id: str) -> OwnerSpec:
        spec = next((o for o in self.owners if o.id == owner_id), None)
        if spec is None:
            raise InputError(f"{self.path}: no owner {owner_id!r}")
        return spec

    def _own_data(self, spec: OwnerSpec) -> Dataset:
        """The owner's data from its file or the source, before any cheat."""
        if spec.data is not None:
            trainer = self.trainer_data()
            data = load_npz(spec.data, n_classes=trainer.n_classes)
            if data.sample_shape != trainer.train.sample_shape:
                raise InputError(
                    f"{spec.data}: samples of shape {data.sample_shape}, but the trainer's are "
                    f"{trainer.train.sample_shape}"
                )
            return data
        return self._built[1][spec.id]

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
        return build_from_source(
            self.owners,
            path=self.path,
            source=self.source,
            seed=self.seed,
            split=self.split,
            classes=self.source_classes,
            cue=self.cue,
            cue_class=self.cue_class,
        )


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
    seed = check_value(doc.get("seed", 0), NON_NEGATIVE_INT, f"{where}: seed")
    data = _table(doc.get("data", {}), f"{where}: [data]")
    _known(data, {"source", *_DATA_RULES}, f"{where}: [data]")
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
    twins = {o.id: o.twin_of for o in specs if o.twin_of is not None}
    for owner_id, copied in twins.items():
        if copied not in ids or copied == owner_id or copied in twins:
            raise InputError(
                f"{where}: owner {owner_id!r}: twin_of must name another owner that is no twin, "
                f"got {copied!r}"
            )
    split = _split_options(trainer, where, cue)
    _check_given(trainer, _TRAINER_RULES, f"{where}: [trainer] ")
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
        n_classes=trainer.get("n_classes"),
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
    _check_given(data, _DATA_RULES, f"{where}: [data] ")
    if "cue_class" in data and "cue" not in data:
        raise InputError(f"{where}: [data] cue_class needs a cue")
    classes = tuple(data["classes"]) if "classes" in data else None
    return classes, data.get("cue"), data.get("cue_class", 1)


def _split_options(trainer: dict, where: str, cue: str | None) -> dict:
    """The `[trainer]` keys that say how a built-in source is split, checked."""
    split = {k: v for k, v in trainer.items() if k in _SPLIT_KEYS}
    _check_given(split, _SPLIT_RULES, f"{where}: [trainer] ")
    if "train_where" in split:
        split["train_where"] = _where(split["train_where"], f"{where}: [trainer] train_where")
    if "train_where_share" in split and "train_where" not in split:
        raise InputError(f"{where}: [trainer] train_where_share needs train_where")
    counters = sorted({"train_counter", "eval_counter"} & set(split))
    if counters and cue is None:
        raise InputError(f"{where}: [trainer] {counters[0]} needs a [data] cue")
    return split


def _owner(doc: object, i: int, path: Path, source: object, cue: str | None) -> OwnerSpec:
    where = f"{path}: owner {i + 1}"
    doc = _table(doc, where)
    owner_id = check_value(doc.get("id"), Text(), f"{where}: id")
    where = f"{path}: owner {owner_id!r}"
    _known(doc, _OWNER_KEYS, where)
    behaviour = check_value(
        doc.get("behaviour", "honest"), Options(BEHAVIOURS), f"{where}: behaviour"
    )
    twin_of = doc.get("twin_of")
    if (behaviour == "twin") != (twin_of is not None):
        raise InputError(f'{where}: behaviour "twin" and twin_of (the owner it copies) go together')
    if twin_of is not None:
        check_value(twin_of, Text(), f"{where}: twin_of")
        extra = sorted(set(doc) - {"id", "description", "behaviour", "twin_of"})
        if extra:
            raise InputError(f"{where}: {extra[0]!r} does not apply to a twin (it holds a copy)")
        return OwnerSpec(owner_id, behaviour=behaviour, twin_of=twin_of)
    if "data" in doc:
        extra = sorted(set(doc) - {"id", "data", "description", "behaviour", "twin_of"})
        if extra:
            raise InputError(
                f"{where}: {extra[0]!r} applies to built-in owners, not to a data file"
            )
        return OwnerSpec(
            owner_id, data=_file(doc["data"], path, f"owner {owner_id!r} data"), behaviour=behaviour
        )
    if source is None:
        raise InputError(
            f'{where}: needs a data file (data = "owner.npz") or a built-in [data] source'
        )
    size = check_value(doc.get("size"), POSITIVE_INT, f"{where}: size")
    _check_given(doc, _OWNER_RULES, f"{where}: ")
    _check_owner_options(doc, where, cue)
    classes = doc.get("classes")
    return OwnerSpec(
        owner_id,
        size=size,
        classes=None if classes is None else tuple(classes),
        shares=_shares(doc.get("shares", {}), f"{where}: shares"),
        label_noise=float(doc.get("label_noise", 0.0)),
        **{k: tuple(doc[k]) for k in ("noise_from", "noise_to", "label_swap") if k in doc},
        where=_where(doc["where"], f"{where}: where") if "where" in doc else {},
        counter=float(doc.get("counter", 0.0)),
        trainer_copies=doc.get("trainer_copies", False),
        cross_domain=doc.get("cross_domain"),
        corrupt=doc.get("corrupt"),
        corrupt_fraction=float(doc.get("corrupt_fraction", 1.0)),
        corrupt_columns=tuple(doc.get("corrupt_columns", [])),
        behaviour=behaviour,
    )


def _check_owner_options(doc: dict, where: str, cue: str | None) -> None:
    """The rules between a built-in owner's keys: what `trainer_copies`, `counter` and `corrupt*` need."""
    clash = sorted({"classes", "shares", "where", "counter"} & set(doc))
    if doc.get("trainer_copies", False) and clash:
        raise InputError(
            f"{where}: {clash[0]!r} does not apply to trainer_copies (they are the trainer's samples)"
        )
    if "counter" in doc and cue is None:
        raise InputError(f"{where}: counter needs a [data] cue")
    corrupt = doc.get("corrupt")
    for key in ("corrupt_fraction", "corrupt_columns"):
        if key in doc and corrupt is None:
            raise InputError(f"{where}: {key} needs corrupt")
    if corrupt == "shuffle" and "corrupt_columns" not in doc:
        raise InputError(f"{where}: corrupt = 'shuffle' needs corrupt_columns")
    if corrupt != "shuffle" and "corrupt_columns" in doc:
        raise InputError(f"{where}: corrupt_columns applies to corrupt = 'shuffle' only")


def _shares(value: object, where: str) -> dict[int, float]:
    """An owner's `shares`: class numbers to fractions >= 0 that sum to at most 1."""
    table = _table(value, where)
    try:
        shares = {int(k): float(v) for k, v in table.items()}
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where} must map class numbers to fractions") from None
    for c, share in shares.items():
        check_value(share, NON_NEGATIVE, f"{where}.{c}")
    total = sum(shares.values())
    if total > 1 + 1e-9:
        raise InputError(f"{where} must sum to at most 1, got {total:g}")
    return shares


def _where(value: object, where: str) -> dict[str, tuple[str, ...]]:
    """A group filter: column names to a value or a non-empty list of values."""
    table = _table(value, where)
    if not table:
        raise InputError(f"{where} must name at least one column")
    for column, v in table.items():
        check_value(v, _GROUP_VALUES, f"{where}.{column}")
    return {column: (v,) if isinstance(v, str) else tuple(v) for column, v in table.items()}


def _check_given(values: dict, rules: dict[str, Constraint], where: str) -> None:
    """Check each key of `values` that `rules` names (absent keys take their defaults)."""
    check_params(values, {k: rule for k, rule in rules.items() if k in values}, where=where)


def _table(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{where} is missing or not a table")
    return value


def _known(table: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}")


def _file(value: object, scenario: Path, what: str) -> Path:
    if not isinstance(value, str) or "\x00" in value:
        raise InputError(f"{scenario}: {what} must be a file path, got {value!r}")
    return (scenario.parent / value).resolve()
