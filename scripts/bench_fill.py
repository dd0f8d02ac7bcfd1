"""Mycroft with and without `fill` (the quota gradient matching leaves unused goes to the candidates
nearest the hard samples), side by side on the same trainers, written into BENCHMARKS.md ("## Selection:
filling the budget gradient matching leaves unused").

Run:

    .venv/bin/python scripts/bench_fill.py [--seeds 10] [--scenarios fashion,spurious,...] [--print-only]

Each scenario's runs go to runs/fill/NAME.json, and the section is built from every such file
present, so scenarios run in separate processes still make one section. Per scenario,
`mycroft_fl.cli.compare.compare` runs Mycroft, Mycroft with `fill = true` and random at
5% and 10% of an owner's data on the same seeds (so on the same trainers and the same full-information
reference). Figures: the paired difference fill − Mycroft of the combined model's held-out hard accuracy
with its 95% bootstrap interval over seeds, each one's lead over random, share of full information's
gain, regret@3 as a share of random choice's, and the samples that left the owners.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from benchmarks_md import publish, scenario_options  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Selection: filling the budget gradient matching leaves unused"
COMMAND = ".venv/bin/python scripts/bench_fill.py"
BUDGETS = {  # 5% and 10% of an owner's data
    "fashion": (40, 80),
    "spurious": (32, 64),
    "credit": (12, 24),
    "diamonds": (20, 40),
    "digits": (6, 12),
}
FILL = "mycroft-fill"
OUT = (
    ROOT / "runs" / "fill"
)  # one compare.json-like file per scenario; the section is built from all present


def measure(name: str, seeds: int) -> dict:
    """compare()'s runs of Mycroft, Mycroft with fill and random on one scenario."""
    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.strategy_config import load_strategy

    mycroft = load_strategy("mycroft")
    fill = replace(mycroft, name=FILL, selector=replace(mycroft.selector, fill=True))
    result = compare(load_scenario(name), [mycroft, fill, "random"], BUDGETS[name], seeds)
    return result.to_dict()


def rows(doc: dict) -> list[str]:
    from mycroft_fl.evaluation.stats import Stat

    runs = {(r["strategy"], r["budget"], r["seed"]): r for r in doc["runs"]}
    aggregates = {(a["strategy"], a["budget"]): a for a in doc["aggregates"]}
    seeds = doc["settings"]["seeds"]
    out = []
    for budget in doc["settings"]["budgets"]:
        cells = {}
        for name in ("mycroft", FILL):
            a = aggregates[(name, budget)]
            regret, random_regret = a["regret_at_k"]["mean"], a["random_regret_at_k"]["mean"]
            ratio = regret / random_regret if regret is not None and random_regret else None
            cells[name] = (
                f"{100 * a['minus_random']['mean']:+.1f} | {a['gain_fraction']['mean']:.0%} | "
                + ("-" if ratio is None else f"{ratio:.2f}")
                + f" | {a['exposed_total']['mean']:.0f}"
            )
        diff = np.array(
            [
                100
                * (
                    runs[(FILL, budget, s)]["combined_hard_accuracy"]
                    - runs[("mycroft", budget, s)]["combined_hard_accuracy"]
                )
                for s in seeds
            ]
        )
        stat = Stat.of(diff.tolist())
        lo, hi = stat.lo, stat.hi
        wins = f"{int((diff > 0).sum())}/{int((diff == 0).sum())}/{int((diff < 0).sum())}"
        out.append(
            f"| `{doc['scenario']}` | {budget} | {diff.mean():+.1f} [{lo:+.1f}, {hi:+.1f}] ({wins}) | "
            f"{cells['mycroft']} | {cells[FILL]} |"
        )
    return out


# A reading of the table, written by hand; re-read it whenever the figures change.
READING = (
    "Reading (2026-12-02, 10 seeds, commit 9221a93): matching leaves budget unused mostly on fashion "
    "(814 of random's 959 samples at 80), barely on the tables and spurious, never on digits. Filling "
    "it is no consistent gain: +0.9 [−1.0, +3.0] points on fashion at 80 (regret ratio 0.19 → 0.13, "
    "share 81% → 83%), nothing measurable on spurious, diamonds or fashion at 40, and −1.5 [−3.0, −0.2] "
    "on credit at 24, where 22 more rows nearest the hard samples crowd a two-class model's boundary. "
    "So `fill` stays off by default; it does not close diamonds' gap to random at 5% and 10% either."
)


def section(docs: list[dict], seeds: int) -> str:
    lines = [
        SECTION,
        "",
        f"`{COMMAND} --seeds {seeds}`. Gradient matching stops picking in a class when no candidate "
        "correlates positively with the residual any more, so Mycroft can send fewer samples than the "
        "owner allows. With `fill = true` (selector parameter of `mycroft`) the rest of each class's "
        "quota goes to its candidates nearest the hard samples in embedding space, as in the paper's "
        "union of matching and retrieval. Same seeds, trainers and reference for both; Δ = fill − "
        "Mycroft, combined model's held-out hard accuracy, points [95% bootstrap interval over seeds] "
        "(seeds better / equal / worse); for each: lead over random at the same budget (points), share "
        "of full information's gain, regret@3 as a share of random choice's, samples that left the "
        "owners (audit included).",
        "",
        "| scenario | budget | Δ fill − Mycroft, pts | Mycroft: − random | share | regret ratio | sent "
        "| fill: − random | share | regret ratio | sent |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for doc in docs:
        lines += rows(doc)
    lines += ["", READING]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    args = scenario_options(__doc__.split("\n\n")[0], list(BUDGETS), 10, argv)
    start = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.scenarios:
        (OUT / f"{name}.json").write_text(json.dumps(measure(name, args.seeds)))
        print(f"{name} done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    docs = [
        json.loads((OUT / f"{n}.json").read_text()) for n in BUDGETS if (OUT / f"{n}.json").exists()
    ]
    print(f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    publish(section(docs, args.seeds), args.print_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
