"""Where the shipped strategy presets (`strategies/`) and scenarios (`simulations/`) are found.

The installed package's own copies come first: a wheel carries them inside the package, an editable
install points at its checkout. Then the copies beside the running code: a checkout, or a Flower app
bundle, which carries the TOML files but none of the data files a scenario may name.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

DISTRIBUTION = "mycroft-fl"
KINDS = ("strategies", "simulations")
_PACKAGE = Path(__file__).resolve().parent.parent  # mycroft_fl/


@cache
def shipped_dirs(kind: str) -> tuple[Path, ...]:
    """The existing directories holding the shipped files of `kind` ("strategies" or "simulations"),
    the installed package's first, without repeats."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    candidates = [*_installed(kind), _PACKAGE / kind, _PACKAGE.parent / kind]
    out: list[Path] = []
    for d in candidates:
        if d.is_dir() and d.resolve() not in out:
            out.append(d.resolve())
    return tuple(out)


def find_shipped(kind: str, name: str) -> Path | None:
    """The shipped file `name`.toml of `kind`, or None."""
    return next(
        (d / f"{name}.toml" for d in shipped_dirs(kind) if (d / f"{name}.toml").is_file()), None
    )


def shipped_names(kind: str) -> list[str]:
    """The names of every shipped file of `kind`, sorted."""
    return sorted({p.stem for d in shipped_dirs(kind) for p in d.glob("*.toml")})


def _installed(kind: str) -> list[Path]:
    """Where the installed distribution keeps `kind`: inside the package for a wheel, in the checkout
    for an editable install (PEP 610's direct_url.json names it). Every installed copy is looked at:
    the first one found may be a build's leftover metadata (an .egg-info in the working directory)."""
    out = []
    for dist in metadata.distributions(name=DISTRIBUTION):
        out.append(Path(str(dist.locate_file(f"mycroft_fl/{kind}"))))
        try:
            direct = json.loads(dist.read_text("direct_url.json") or "{}")
        except (json.JSONDecodeError, OSError):
            direct = {}
        url = urlparse(str(direct.get("url", "")))
        if direct.get("dir_info", {}).get("editable") and url.scheme == "file":
            out.append(Path(unquote(url.path)) / kind)
    return [p for p in out if p.is_absolute()]
