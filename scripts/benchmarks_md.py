"""Shared by the benchmark scripts: replace one section of BENCHMARKS.md, leaving the others alone."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(text: str) -> None:
    """Replace (or append) the section whose `## ` heading is the first line of `text`."""
    heading = text.splitlines()[0]
    old = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.M | re.S)
    section = text.rstrip("\n") + "\n\n"
    new = pattern.sub(lambda _: section, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + section
    BENCHMARKS.write_text(new.rstrip("\n") + "\n")
