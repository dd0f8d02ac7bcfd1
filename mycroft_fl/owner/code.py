"""Which user code an owner runs: a query names the model and embedder owners build, and any name
but a built-in one is code an owner would import and run."""

from __future__ import annotations

from collections.abc import Collection

from mycroft_fl.core.errors import InputError

#: An owner's `allow_code` that allows any code.
ANY_CODE = "*"


def check_code(names: dict[str, str], allow_code: Collection[str] | str) -> None:
    """Refuse to run user code ("package.module:factory") that the owner has not allowed.

    A query names the model and embedder its owners build; any name but a built-in one is code the
    owner would import and run, so an owner runs only the names it allowed.

    Parameters
    ----------
    names : dict of str to str
        What will be built, by kind: {"model": "mlp", "embedder": "pkg.mod:make"}.
    allow_code : collection of str, or "*"
        The "package.module:factory" names the owner allows, or "*" for any.

    Raises
    ------
    InputError
        Naming the refused code and how an owner allows it.
    """
    if allow_code == ANY_CODE:
        return
    refused = [(k, n) for k, n in names.items() if ":" in n and n not in allow_code]
    if refused:
        what = ", ".join(f"{kind} {name!r}" for kind, name in refused)
        allow = ",".join(name for _, name in refused)
        raise InputError(
            f"this owner runs only built-in models and embedders, not the query's {what}: "
            f'allow it in the owner\'s node config, allow-code="{allow}" (or "*" for any)'
        )
