"""Input rules, declared once: checks of arrays and parameters that name the argument at fault.

A parameter's rule is a `Constraint` (as scikit-learn declares `_parameter_constraints`); objects that
take user parameters declare a mapping of them and call `check_params`, so every rule is written once
and every message has the same form: "<where>: <name> must be <rule>, got <value>".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from mycroft_fl.core.errors import InputError


class Constraint:
    """A rule a parameter's value must meet; `str(rule)` completes "must be ..."."""

    def accepts(self, value: object) -> bool:
        raise NotImplementedError


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> bool:
    if not isinstance(value, Real) or isinstance(value, (bool, np.bool_)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False


@dataclass(frozen=True)
class Interval(Constraint):
    """An integer (`kind` int) or a finite number (`kind` float) between `low` and `high` (None: unbounded),
    each bound included or not as `closed` says ("both", "left", "right", "neither")."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, value: object) -> bool:
        if not (_is_int(value) if self.kind is int else _is_real(value)):
            return False
        v = (
            value if self.kind is int else float(value)
        )  # an integer compared exactly, however large
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and (v < self.low or (v == self.low and not left)):
            return False
        return self.high is None or not (v > self.high or (v == self.high and not right))

    def __str__(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        low, high = (
            None if b is None else (int(b) if float(b).is_integer() else b)
            for b in (self.low, self.high)
        )
        if low is not None and high is not None:
            return f"{what} in {'[' if left else '('}{low}, {high}{']' if right else ')'}"
        if low is not None:
            return f"{what} {'>=' if left else '>'} {low}"
        if high is not None:
            return f"{what} {'<=' if right else '<'} {high}"
        return what


@dataclass(frozen=True)
class Options(Constraint):
    """One of the given values."""

    values: tuple

    def accepts(self, value: object) -> bool:
        return (
            isinstance(value, (str, int, float))
            and not isinstance(value, bool)
            and value in self.values
        )

    def __str__(self) -> str:
        return "one of " + ", ".join(map(repr, self.values))


class Boolean(Constraint):
    """true or false (a real bool, not 0 or 1)."""

    def accepts(self, value: object) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self) -> str:
        return "true or false"


class Text(Constraint):
    """A non-empty string."""

    def accepts(self, value: object) -> bool:
        return isinstance(value, str) and bool(value)

    def __str__(self) -> str:
        return "a non-empty string"


@dataclass(frozen=True)
class Names(Constraint):
    """A list (or tuple) of distinct non-empty strings; at least `minimum` of them. A string alone is not one."""

    minimum: int = 1

    def accepts(self, value: object) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) >= self.minimum
            and all(isinstance(v, str) and v for v in value)
            and len(set(value)) == len(value)
        )

    def __str__(self) -> str:
        return f"a list of at least {self.minimum} distinct non-empty names"


@dataclass(frozen=True)
class ListOf(Constraint):
    """A list (or tuple) of at least `minimum` items that each meet `item` (all different if `distinct`)."""

    item: Constraint
    minimum: int = 1
    distinct: bool = False

    def accepts(self, value: object) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) >= self.minimum
            and all(self.item.accepts(v) for v in value)
            and (not self.distinct or len(set(value)) == len(value))
        )

    def __str__(self) -> str:
        items = "distinct items" if self.distinct else "items"
        head = {0: f"a list of {items}", 1: f"a non-empty list of {items}"}.get(
            self.minimum, f"a list of at least {self.minimum} {items}"
        )
        return f"{head}, each {self.item}"


@dataclass(frozen=True)
class AnyOf(Constraint):
    """Any of several rules."""

    rules: tuple[Constraint, ...]

    def accepts(self, value: object) -> bool:
        return any(r.accepts(value) for r in self.rules)

    def __str__(self) -> str:
        return " or ".join(map(str, self.rules))


POSITIVE_INT = Interval(int, 1, None)
NON_NEGATIVE_INT = Interval(int, 0, None)
POSITIVE = Interval(float, 0, None, closed="neither")
NON_NEGATIVE = Interval(float, 0, None)
FRACTION = Interval(float, 0, 1)
OPEN_FRACTION = Interval(float, 0, 1, closed="neither")


def check_value(value: Any, rule: Constraint, name: str) -> Any:
    """`value` when it meets `rule`, else an InputError "<name> must be <rule>, got <value>"."""
    if not rule.accepts(value):
        raise InputError(f"{name} must be {rule}, got {value!r}")
    return value


def check_params(
    values: Mapping[str, Any], constraints: Mapping[str, Constraint], *, where: str = ""
) -> None:
    """Check every parameter of `values` that `constraints` names; `where` prefixes the message
    (e.g. "strategy 'mine': ")."""
    for name, rule in constraints.items():
        check_value(values[name], rule, f"{where}{name}")


def as_matrix(x: object, name: str, *, rows: int | None = None) -> np.ndarray:
    """Return `x` as a finite 2-D float array (float32/float64 kept, other dtypes to float64).

    Shared input check of the selection modules; `rows`, if given, is the required number of rows.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {x.shape}")
    if rows is not None and len(x) != rows:
        raise ValueError(f"{name} must have {rows} rows, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def as_labels(y: object, name: str, *, n: int | None = None) -> np.ndarray:
    """Return `y` as a 1-D int64 array of non-negative class labels (of length `n`, if given)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    if y.size and y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n is not None and len(y) != n:
        raise ValueError(f"{name} must have {n} labels, got {len(y)}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{name} contains negative labels")
    return y


def as_count(value: object, name: str, *, minimum: int) -> int:
    """Return `value` as a Python int, requiring an integer (not bool) of at least `minimum`."""
    return int(check_value(value, Interval(int, minimum, None), name))


def build_named(
    kind: str, registry: Mapping[str, type], name: object, params: Mapping[str, object]
) -> Any:
    """The object of `registry` called `name`, made with `params`: an unknown name or parameter is an
    InputError naming it (`kind` is what the registry holds, e.g. "selector"). Registered classes
    declare their parameters' rules in `constraints`."""
    if not isinstance(name, str) or name not in registry:
        raise InputError(f"unknown {kind} {name!r}: use one of {', '.join(registry)}")
    cls = registry[name]
    unknown = sorted(set(params) - set(cls.constraints))
    if unknown:
        known = ", ".join(sorted(cls.constraints)) or "none"
        raise InputError(
            f"{kind} {name!r}: unknown parameter {unknown[0]!r} (its parameters: {known})"
        )
    return cls(**params)
