"""The runner: runs one benchmark module, stamps what it measured with the machine probe's facts, and
keeps it in benchmarks/results/NAME.json.

A benchmark is a module of this package with

- `TITLE`: its section's heading in BENCHMARKS.md;
- `SEEDS` and `SCENARIOS`: the defaults of `--seeds` and `--scenarios` (None where they mean nothing);
- `add_options(parser)` (optional): its own options;
- `measure(options)`: yields `(key, data)` parts as they finish, `data` plain JSON-able figures;
- `section(entries, reading)`: its section, from the entries of its results file and its reading.

The measured code knows nothing of files, machines or Markdown; the runner knows nothing of what is
measured (as asv and pytest-benchmark separate them). A results file holds entries, one per key; a new
run replaces the entry of the same key and keeps the others, so parts measured at different times (one
scenario today, another tomorrow) make one section, each with its own stamp. An entry is either
`measured` (stamped by this runner) or `recorded` (figures measured by an earlier script, transcribed,
with where they came from; with `markdown` instead of `data`, the text it wrote: `render.py`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from benchmarks import BENCHMARKS, ELSEWHERE
from benchmarks.probe import facts, load

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
READINGS = HERE / "readings"
QUICK_RESULTS = HERE.parent / "runs" / "benchmarks-quick"


def module(name: str) -> ModuleType:
    """The benchmark module `name` (one of `BENCHMARKS` or `ELSEWHERE`)."""
    if name not in BENCHMARKS + ELSEWHERE:
        raise SystemExit(f"unknown benchmark {name!r}: one of {', '.join(BENCHMARKS + ELSEWHERE)}")
    return importlib.import_module(f"benchmarks.{name}")


def plain(value):
    """JSON-safe: tuples become lists, numpy scalars Python numbers, nan and inf null."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def results_path(name: str, directory: Path = RESULTS) -> Path:
    return directory / f"{name}.json"


def read_entries(name: str, directory: Path = RESULTS) -> list[dict]:
    """The entries of a benchmark's results file (none when there is no file)."""
    path = results_path(name, directory)
    return json.loads(path.read_text())["entries"] if path.is_file() else []


def write_entries(name: str, entries: list[dict], directory: Path = RESULTS) -> Path:
    path = results_path(name, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "entries": entries}
    path.write_text(json.dumps(plain(doc), indent=1, ensure_ascii=False) + "\n")
    return path


def merge(entries: list[dict], entry: dict) -> list[dict]:
    """`entries` with `entry` in place of the one of the same key (or added at the end)."""
    keys = [e["key"] for e in entries]
    if entry["key"] in keys:
        return [entry if e["key"] == entry["key"] else e for e in entries]
    return [*entries, entry]


def parser_for(mod: ModuleType, name: str) -> argparse.ArgumentParser:
    """The options of `python -m benchmarks run NAME`: the common ones and the module's own."""
    p = argparse.ArgumentParser(
        prog=f"python -m benchmarks run {name}",
        description=(mod.__doc__ or name).split("\n\n")[0],
    )
    seeds, scenarios = getattr(mod, "SEEDS", None), getattr(mod, "SCENARIOS", None)
    if seeds is not None:
        p.add_argument("--seeds", type=int, default=seeds, help=f"seeds (default {seeds})")
    if scenarios is not None:
        p.add_argument(
            "--scenarios",
            type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
            default=list(scenarios),
            help=f"comma-separated (default {','.join(scenarios)})",
        )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a reduced run (the module says what it reduces); results go to {QUICK_RESULTS}",
    )
    p.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help=f"where the results file is kept (default {RESULTS})",
    )
    p.add_argument("--no-write", action="store_true", help="print the section, keep no results")
    if hasattr(mod, "add_options"):
        mod.add_options(p)
    return p


def run(name: str, argv: Sequence[str] = (), *, log=None) -> list[dict]:
    """Run benchmark `name` with command-line options `argv`; write each part to its results file as it
    finishes, print the section, and return the entries written."""
    mod = module(name)
    options = parser_for(mod, name).parse_args(list(argv))
    if getattr(options, "seeds", 1) is not None and getattr(options, "seeds", 1) < 1:
        raise SystemExit("--seeds must be >= 1")
    directory = options.results_dir or (QUICK_RESULTS if options.quick else RESULTS)
    command = " ".join(["python -m benchmarks run", name, *argv])
    log = log or (lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr))
    entries = read_entries(name, directory)
    written = []
    stamp = facts()
    start = time.perf_counter()
    log(f"{name}: {command}")
    for key, data in mod.measure(options):
        entry = {
            "key": key,
            "measured": {
                **stamp,
                "command": command,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                "wall_s": round(time.perf_counter() - start, 1),
                "load_after": load(),
            },
            "data": data,
        }
        entry = plain(entry)
        written.append(entry)
        entries = merge(entries, entry)
        if not options.no_write:
            path = write_entries(name, entries, directory)
            log(f"{name}: {key} -> {path}")
        stamp, start = facts(), time.perf_counter()  # the next part's own
    from benchmarks.render import section_of

    print(section_of(name, entries))
    return written
