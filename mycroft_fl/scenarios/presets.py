"""Strategy presets: which selection method, at what budget, with which parameters.

Presets are TOML files in `strategies/`, found by name (`--strategy mycroft`) from a checkout, an
installed wheel or a Flower app bundle, or given as a path to a file of the same form.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.resources import find_shipped, shipped_names
from mycroft_fl.core.tomlfile import read_toml
from mycroft_fl.owner.selectors import ANCHORS, METHODS, budgeted


@dataclass(frozen=True)
class StrategyConfig:
    """A selection method with its budget and parameters: `ridge` λ and `penalty` λ₂ of Mycroft, and the
    `anchor` its penalty measures distance from (see `selection.select`); for
    Data Shapley, exact values up to `exact_up_to` owners (2^n retrains), beyond that truncated Monte
    Carlo over `permutations` random orders, cut once a prefix is within `truncation` (relative) of the
    value of all owners."""

    name: str
    method: str
    budget: int = 32
    ridge: float = 0.5
    penalty: float = 2.0
    anchor: str = "nearest"
    permutations: int = 100
    truncation: float = 0.01
    exact_up_to: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"strategy name must be a non-empty string, got {self.name!r}")
        if self.method not in METHODS:
            raise InputError(f"strategy {self.name!r}: unknown method {self.method!r} (use one of {', '.join(METHODS)})")
        if not _is_int(self.budget) or self.budget < 1:
            raise InputError(f"budget must be a positive integer, got {self.budget!r}")
        for field in ("ridge", "penalty"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < float("inf"):
                raise InputError(f"strategy {self.name!r}: {field} must be a number >= 0, got {value!r}")
        if self.anchor not in ANCHORS:
            raise InputError(f"strategy {self.name!r}: anchor must be one of {', '.join(ANCHORS)}, got {self.anchor!r}")
        if not _is_int(self.permutations) or self.permutations < 1:
            raise InputError(f"strategy {self.name!r}: permutations must be an integer >= 1, got {self.permutations!r}")
        if not _is_int(self.exact_up_to) or not 0 <= self.exact_up_to <= MAX_EXACT:
            raise InputError(f"strategy {self.name!r}: exact_up_to must be an integer in 0..{MAX_EXACT} "
                             f"(exact Shapley retrains 2^n times), got {self.exact_up_to!r}")
        t = self.truncation
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t < 1:
            raise InputError(f"strategy {self.name!r}: truncation must be a number in [0, 1), got {t!r}")

    @property
    def budgeted(self) -> bool:
        """Whether owners are held to `budget` (see `selection.budgeted`)."""
        return budgeted(self.method)


#: Exact Shapley over more owners than this (over a million retrains) is refused.
MAX_EXACT = 20


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def available_presets() -> list[str]:
    return shipped_names("strategies")


def load_strategy(name_or_path: str, *, budget: int | None = None) -> StrategyConfig:
    """A preset by name or a strategy TOML file by path; `budget` overrides the preset's."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and len(path.parts) == 1:  # a bare name is a preset, never a stray file
        path = find_shipped("strategies", name_or_path)
        if path is None:
            raise InputError(f"unknown strategy {name_or_path!r}: use one of {', '.join(available_presets())} or a .toml file")
    if not path.is_file():
        raise InputError(f"{path}: no such strategy file")
    table = read_toml(path)
    known = {"name", "method", "budget", "ridge", "penalty", "anchor", "permutations", "truncation", "exact_up_to",
             "description"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise InputError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    if "method" not in table:
        raise InputError(f"{path}: missing key 'method'")
    table.pop("description", None)
    table.setdefault("name", path.stem)
    if budget is not None:
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise InputError(f"budget must be a positive integer, got {budget!r}")
        table["budget"] = budget
    try:
        return StrategyConfig(**table)
    except InputError as exc:  # a bad value in the file: name the file
        raise InputError(f"{path}: {exc}") from None


def resolve_strategy(strategy: str | StrategyConfig, budget: int | None = None) -> StrategyConfig:
    """A strategy given by name, file or object, with `budget` (when given) replacing its own."""
    if isinstance(strategy, StrategyConfig):
        return strategy if budget is None else replace(strategy, budget=budget)
    return load_strategy(strategy, budget=budget)
