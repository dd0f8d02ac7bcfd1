"""Shared by the benchmark scripts: replace one section of BENCHMARKS.md (or RELIABILITY.md), leaving the
others alone."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(text: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section of `path` whose `## ` heading is the first line of `text`."""
    heading = text.splitlines()[0]
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.M | re.S)
    section = text.rstrip("\n") + "\n\n"
    new = (
        pattern.sub(lambda _: section, old)
        if pattern.search(old)
        else old.rstrip("\n") + "\n\n" + section
    )
    path.write_text(new.rstrip("\n") + "\n")


def scenario_options(
    description: str, scenarios: Sequence[str], seeds: int, argv: list[str] | None = None
) -> argparse.Namespace:
    """The options of a bench run per scenario and seed: `--seeds`, `--scenarios` (comma-separated,
    given back as a list) and `--print-only`."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--seeds", type=int, default=seeds, help=f"seeds per scenario (default {seeds})")
    p.add_argument(
        "--scenarios",
        default=",".join(scenarios),
        type=lambda value: value.split(","),
        help=f"comma-separated (default {','.join(scenarios)})",
    )
    p.add_argument(
        "--print-only", action="store_true", help="print the section, leave BENCHMARKS.md"
    )
    return p.parse_args(argv)


def publish(text: str, print_only: bool) -> None:
    """Print a section and, unless `print_only`, write it into BENCHMARKS.md."""
    print(text)
    if not print_only:
        write_section(text)
