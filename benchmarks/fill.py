"""Mycroft with and without `fill` (the quota gradient matching leaves unused goes to the candidates
nearest the hard samples), side by side on the same trainers.

Per scenario, `compare` runs Mycroft, Mycroft with `fill = true` and random at 5% and 10% of an owner's
data on the same seeds (so on the same trainers and the same full-information reference). Figures: the
paired difference fill − Mycroft of the combined model's held-out hard accuracy with its 95% bootstrap
interval over seeds, each one's lead over random, share of full information's gain, regret@3 as a share
of random choice's, and the samples that left the owners. `--quick`: digits, 2 seeds.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from benchmarks.drivers import lean_runs, renamed
from benchmarks.md import Reading, ordered, paragraphs, provenances, table

TITLE = "## Selection: filling the budget gradient matching leaves unused"
SEEDS = 10
BUDGETS = {  # 5% and 10% of an owner's data
    "fashion": (40, 80),
    "spurious": (32, 64),
    "credit": (12, 24),
    "diamonds": (20, 40),
    "digits": (6, 12),
}
SCENARIOS = tuple(BUDGETS)
FILL = "mycroft-fill"


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    for name in ["digits"] if options.quick else options.scenarios:
        strategies = ["mycroft", renamed("mycroft", FILL, fill=True), "random"]
        result = compare(load_scenario(name), strategies, list(BUDGETS[name]), seeds)
        yield name, lean_runs(result.to_dict())


# ------------------------------------------------------------------------------------------ section


def rows_of(doc: dict) -> list[list[str]]:
    from mycroft_fl.evaluation.stats import Stat

    runs = {(r["strategy"], r["budget"], r["seed"]): r for r in doc["runs"]}
    aggregates = {(a["strategy"], a["budget"]): a for a in doc["aggregates"]}
    seeds = doc["settings"]["seeds"]
    out = []
    for budget in doc["settings"]["budgets"]:
        cells = []
        for name in ("mycroft", FILL):
            a = aggregates[(name, budget)]
            regret, random_regret = a["regret_at_k"]["mean"], a["random_regret_at_k"]["mean"]
            ratio = regret / random_regret if regret is not None and random_regret else None
            cells += [
                f"{100 * a['minus_random']['mean']:+.1f}",
                f"{a['gain_fraction']['mean']:.0%}",
                "-" if ratio is None else f"{ratio:.2f}",
                f"{a['exposed_total']['mean']:.0f}",
            ]
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
        wins = f"{int((diff > 0).sum())}/{int((diff == 0).sum())}/{int((diff < 0).sum())}"
        out.append(
            [
                f"`{doc['scenario']}`",
                budget,
                f"{diff.mean():+.1f} [{stat.lo:+.1f}, {stat.hi:+.1f}] ({wins})",
                *cells,
            ]
        )
    return out


def section(entries: list[dict], reading: Reading) -> str:
    entries = ordered(entries, SCENARIOS)
    rows = [r for e in entries for r in (e["data"].get("rows") or rows_of(e["data"]))]
    return paragraphs(
        TITLE,
        "`python -m benchmarks run fill` (through `compare`). Gradient matching stops picking in a "
        "class when no candidate correlates positively with the residual any more, so Mycroft can send "
        "fewer samples than the owner allows. With `fill = true` (selector parameter of `mycroft`) the "
        "rest of each class's quota goes to its candidates nearest the hard samples in embedding space, "
        "as in the paper's union of matching and retrieval. Same seeds, trainers and reference for both; "
        "Δ = fill − Mycroft, combined model's held-out hard accuracy, points [95% bootstrap interval "
        "over seeds] (seeds better / equal / worse); for each: lead over random at the same budget "
        "(points), share of full information's gain, regret@3 as a share of random choice's, samples "
        "that left the owners (audit included).",
        table(
            (
                "scenario",
                "budget",
                "Δ fill − Mycroft, pts",
                "Mycroft: − random",
                "share",
                "regret ratio",
                "sent",
                "fill: − random",
                "share",
                "regret ratio",
                "sent",
            ),
            "lrlrrrrrrrr",
            rows,
        ),
        reading.text,
        *provenances(entries),
    )
