"""Reading TOML files the user gives us (scenarios, strategy presets), on every supported Python."""

from __future__ import annotations

from pathlib import Path

from mycroft_fl.core.errors import InputError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, published as tomli
    import tomli as tomllib


def read_toml(path: Path) -> dict:
    """The table in TOML file `path`; an unreadable or invalid file is an InputError naming it."""
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: not valid TOML (nested too deeply)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
