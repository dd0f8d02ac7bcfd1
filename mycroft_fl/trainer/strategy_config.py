"""Strategies: a selector (what owners send), a valuer (how the trainer values it) and a budget.

Shipped presets are TOML files in `strategies/`, found by name (`--strategy mycroft`); a user's own
file of the same form is given by path:

```toml
description = "what it is for"
budget = 32                 # samples an owner may share (unbudgeted selectors ignore it)
settle = 3                  # optional: later rounds ask more only of the owners whose place among
                            # the first 3 is unsettled (see `rounds.unsettled`)

[selector]                  # what each owner sends
name = "mycroft"            # mycroft | gradmatch | retrieval | random | full-information | all-data
ridge = 0.5                 # the selector's own parameters

[valuer]                    # optional: how the trainer values it (default: retrain)
name = "retrain"            # retrain | loo | shapley | inrun | ecoval | data-oob | banzhaf | tmc-shapley
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.params import POSITIVE_INT, Text, check_value
from mycroft_fl.core.resources import find_shipped, shipped_names
from mycroft_fl.core.tomlfile import read_toml
from mycroft_fl.owner.selectors import Mycroft, Selector, make_selector
from mycroft_fl.trainer.valuers import Retrain, Valuer, make_valuer

_KEYS = {"description", "name", "budget", "settle", "selector", "valuer"}


@dataclass(frozen=True)
class StrategyConfig:
    """A strategy: `selector` decides what each owner sends (at most `budget` samples when it is
    budgeted), `valuer` how the trainer turns that into values.

    Parameters
    ----------
    name : str
        How reports and comparisons call it.
    selector : Selector
        What each owner sends (`mycroft_fl.owner.selectors`).
    valuer : Valuer
        How the trainer values owners (`mycroft_fl.trainer.valuers`).
    budget : int
        Samples an owner may share (>= 1); with `settle`, what each round asks of an owner.
    settle : int, optional
        Rounds after the first ask more only of the owners whose place among the first `settle` is
        not settled by their values' intervals, each for `budget` more samples, and stop once it is
        settled: exposure goes where the ranking a trainer pays by is still in doubt (None: later
        rounds share what is left of the budgets by value).
    """

    name: str
    selector: Selector = field(default_factory=Mycroft)
    valuer: Valuer = field(default_factory=Retrain)
    budget: int = 32
    settle: int | None = None

    def __post_init__(self) -> None:
        check_value(self.name, Text(), "strategy name")
        check_value(self.budget, POSITIVE_INT, "budget")
        if not isinstance(self.selector, Selector):
            raise InputError(
                f"strategy {self.name!r}: selector must be a Selector, got {self.selector!r}"
            )
        if not isinstance(self.valuer, Valuer):
            raise InputError(
                f"strategy {self.name!r}: valuer must be a Valuer, got {self.valuer!r}"
            )
        if self.settle is not None:
            check_value(self.settle, POSITIVE_INT, "settle")
            if not isinstance(self.valuer, Retrain) or not self.selector.budgeted:
                raise InputError(
                    f"strategy {self.name!r}: settle needs a budgeted selector and the retrain "
                    "valuer, whose values carry intervals (its value is the measured utility); "
                    f"this one has {self.selector.name!r} and {self.valuer.name!r}"
                )

    @property
    def budgeted(self) -> bool:
        """Whether owners are held to `budget`."""
        return self.selector.budgeted

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "budget": self.budget,
            **({} if self.settle is None else {"settle": self.settle}),
            "selector": {"name": self.selector.name, **self.selector.params()},
            "valuer": {"name": self.valuer.name, **self.valuer.params()},
        }


def available_presets() -> list[str]:
    """The names of the shipped presets."""
    return shipped_names("strategies")


def load_strategy(name_or_path: str, *, budget: int | None = None) -> StrategyConfig:
    """A shipped preset by name, or a strategy TOML file by path.

    Parameters
    ----------
    name_or_path : str
        A preset name (`mycroft`) or the path of a `.toml` file.
    budget : int, optional
        Replaces the preset's budget.

    Returns
    -------
    StrategyConfig
        The strategy; a bad file or value is an InputError naming the file and the key.
    """
    path = Path(name_or_path)
    if (
        path.suffix != ".toml" and len(path.parts) == 1
    ):  # a bare name is a preset, never a stray file
        path = find_shipped("strategies", name_or_path)
        if path is None:
            raise InputError(
                f"unknown strategy {name_or_path!r}: use one of {', '.join(available_presets())} "
                "or a .toml file"
            )
    if not path.is_file():
        raise InputError(f"{path}: no such strategy file")
    table = read_toml(path)
    try:
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise InputError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
        return StrategyConfig(
            name=table.get("name", path.stem),
            budget=table.get("budget", 32) if budget is None else budget,
            settle=table.get("settle"),
            selector=_named(table.get("selector"), "selector", make_selector),
            valuer=_named(table.get("valuer", {"name": "retrain"}), "valuer", make_valuer),
        )
    except InputError as exc:  # a bad value in the file: name the file
        raise InputError(f"{path}: {exc}") from None


def resolve_strategy(strategy: str | StrategyConfig, budget: int | None = None) -> StrategyConfig:
    """A strategy given by name, file or object, with `budget` (when given) replacing its own."""
    if isinstance(strategy, StrategyConfig):
        return (
            strategy
            if budget is None
            else replace(strategy, budget=check_value(budget, POSITIVE_INT, "budget"))
        )
    return load_strategy(strategy, budget=budget)


def _named(table: object, kind: str, make: Callable[..., object]) -> Any:
    """The object a `[selector]` or `[valuer]` table describes, made by `make(name, **parameters)`."""
    if not isinstance(table, dict):
        raise InputError(f'[{kind}] is missing or not a table (it needs at least name = "...")')
    params = dict(table)
    name = params.pop("name", None)
    if name is None:
        raise InputError(f"[{kind}] needs a name")
    return make(name, **params)
