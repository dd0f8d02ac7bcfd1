"""Rounds: Mycroft in two acquisition rounds against one round at the same total budget per owner,
in-process, written into BENCHMARKS.md ("## Rounds").

Run:

    .venv/bin/python scripts/bench_rounds.py [--scenarios digits,credit,diamonds] [--seeds 5] [--print-only]

Per scenario, seed (the scenario's, then the next ones, as `mycroft-fl compare` counts them) and
budget (5% and 10% of an owner's data), one trainer is shared by full information (the reference),
Mycroft in one round (`value_with`, what `run()` and `simulate` do) and Mycroft in two rounds
(`value_in_rounds`, what `start(num_rounds=2)` and `simulate --rounds 2` do), each owner allowed the
same budget in total. Figures: the combined model's held-out hard accuracy and its share of full
information's gain over the control, regret@3 (the hard-accuracy gain lost by buying the full-information
subsets of the 3 best-ranked owners instead of the best 3 not built to mislead, as `mycroft-fl compare`
measures it) beside random choice's, which owners it combines, and what left the owners.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from benchmarks_md import publish, scenario_options  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Rounds"
COMMAND = ".venv/bin/python scripts/bench_rounds.py"
BUDGETS = {
    "digits": (6, 12),
    "credit": (12, 24),
    "diamonds": (20, 40),
}  # 5% and 10% of an owner's data


def measure(name: str, seeds: int) -> list[dict]:
    """One row per seed, budget and number of rounds (full information once per seed)."""
    from mycroft_fl.evaluation.protocol import coalition_values, misleading_owners, run_figures
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.in_process import value_with
    from mycroft_fl.trainer.rounds import value_in_rounds
    from mycroft_fl.trainer.strategy_config import load_strategy
    from mycroft_fl.trainer.trainer import Trainer

    scenario = load_scenario(name)
    data, owners = scenario.trainer_data(), scenario.owners_data()
    misleading = set(misleading_owners(scenario))
    rows = []
    for seed in range(scenario.seed, scenario.seed + seeds):
        trainer = Trainer(data, scenario.trainer, seed=seed)
        control = trainer.control.hard_accuracy
        reference = value_with(trainer, owners, load_strategy("full-information"))
        gain = reference.combined["hard_accuracy"] - control
        values = coalition_values(trainer, reference, 3)  # regret@3 on full information's subsets
        for budget in BUDGETS[name]:
            config = load_strategy("mycroft", budget=budget)
            for rounds in (1, 2):
                t0 = time.perf_counter()
                report = (
                    value_with(trainer, owners, config)
                    if rounds == 1
                    else value_in_rounds(trainer, owners, config, rounds)[0]
                )
                d = report.to_dict()
                c = d["combined"]
                figures = run_figures(
                    report, reference, values, sorted(misleading), k=3, budgeted=True
                )
                rows.append(
                    {
                        "scenario": name,
                        "seed": seed,
                        "budget": budget,
                        "rounds": rounds,
                        "hard": c["hard_accuracy"],
                        "test": c["test_accuracy"],
                        "share": (c["hard_accuracy"] - control) / gain if gain > 0 else None,
                        "combined": tuple(c["owners"]),
                        "regret": figures.regret_at_k,
                        "random_regret": figures.random_regret_at_k,
                        "picks": _picks(d),
                        "received": d["exposure"]["total_received"],
                        "rounds_run": len(d.get("rounds", [])) or 1,
                        "misleading_combined": bool(misleading & set(c["owners"])),
                        "misleading_asked": sum(
                            e["asked"]
                            for r in d.get("rounds", [])[1:]
                            for o, e in r["owners"].items()
                            if o in misleading
                        ),
                        "seconds": time.perf_counter() - t0,
                    }
                )
                print(
                    f"{name} seed {seed} budget {budget} rounds {rounds}: hard {c['hard_accuracy']:.3f} "
                    f"share {rows[-1]['share']} combined {c['owners']} picks {rows[-1]['picks']} "
                    f"received {rows[-1]['received']} ({rows[-1]['seconds']:.1f} s)",
                    file=sys.stderr,
                )
    return rows


def _picks(report: dict) -> int:
    """Samples owners sent as picks (the audit samples apart), over all rounds."""
    if "rounds" in report:
        return sum(r["sent"] for r in report["rounds"])
    return sum(o["shared"] + o.get("replayed", 0) for o in report["owners"])


def section(rows: list[dict], seeds: int) -> str:
    lines = [
        SECTION,
        "",
        f"`{COMMAND} --seeds {seeds}` (in-process, the code behind `start(num_rounds=2)` and "
        "`simulate --rounds 2`). Mycroft in two acquisition rounds against one round, each owner "
        "allowed the same budget in total: round 1 asks every owner for half of it; round 2 asks "
        "only the owners that are useful and not harmful for the rest, with the combined model and "
        "the hard query samples it still gets wrong, and stops early when that model gets them all "
        "right. Per scenario and budget, means over seeds (the scenario's seed and the next ones); "
        "share = (combined hard acc − control) / (full information's − control); Δ = two rounds − "
        "one round on the same trainer [95% bootstrap interval over seeds] (seeds where two rounds are "
        "better / equal / worse); "
        "picks = samples owners selected and sent, received = all that left owners (the label "
        "audit's random samples included); misleading = built to mislead (label noise >= 0.5 or a "
        "cheating behaviour: digits' noisy, credit's and diamonds' flipped).",
        "",
        "| scenario | budget | rounds | held-out hard acc | share of full-info gain | Δ hard acc, pts "
        "[95% CI] (better/equal/worse) | regret@3, pts: rounds / random choice (ratio) | test acc | picks "
        "| received | rounds run | combined owners (seeds) | seeds combining a misleading owner | asked "
        "of misleading owners in round 2 |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    keys = sorted({(r["scenario"], r["budget"]) for r in rows}, key=lambda k: (k[0] != "digits", k))
    verdicts = {"above": [], "below": [], "spans": []}
    regrets = {"lower": [], "higher": [], "equal": []}
    for name, budget in keys:
        one = {
            r["seed"]: r
            for r in rows
            if (r["scenario"], r["budget"], r["rounds"]) == (name, budget, 1)
        }
        for rounds in (1, 2):
            cell = [
                r
                for r in rows
                if (r["scenario"], r["budget"], r["rounds"]) == (name, budget, rounds)
            ]
            shares = [r["share"] for r in cell if r["share"] is not None]
            delta = ""
            if rounds == 2:
                d = np.array([r["hard"] - one[r["seed"]]["hard"] for r in cell])
                lo, hi = 100 * _interval(d)
                verdict = "above" if lo > 0 else "below" if hi < 0 else "spans"
                verdicts[verdict].append(f"{name} at budget {budget}")
                delta = (
                    f"{100 * d.mean():+.1f} [{lo:+.1f}, {hi:+.1f}] ({(d > 1e-9).sum()}/"
                    f"{(abs(d) <= 1e-9).sum()}/{(d < -1e-9).sum()})"
                )
            combined = Counter(o for r in cell for o in r["combined"])
            mine = [r["regret"] for r in cell if r["regret"] is not None]
            if rounds == 2 and mine:
                before = np.mean(
                    [one[r["seed"]]["regret"] for r in cell if r["regret"] is not None]
                )
                after = np.mean(mine)
                side = (
                    "lower"
                    if after < before - 1e-9
                    else "higher"
                    if after > before + 1e-9
                    else "equal"
                )
                regrets[side].append(
                    f"{name} at budget {budget} ({100 * before:.1f} → {100 * after:.1f})"
                )
            rnd = [r["random_regret"] for r in cell if r["random_regret"] is not None]
            regret = (
                f"{100 * np.mean(mine):.1f} / {100 * np.mean(rnd):.1f} ({np.mean(mine) / np.mean(rnd):.2f})"
                if mine and rnd and np.mean(rnd) > 0
                else "–"
            )
            lines.append(
                f"| {name} | {budget} | {rounds} | {np.mean([r['hard'] for r in cell]):.3f} | "
                + (f"{100 * np.mean(shares):.0f}%" if shares else "–")
                + f" | {delta} | {regret} | {np.mean([r['test'] for r in cell]):.3f} | "
                f"{np.mean([r['picks'] for r in cell]):.0f} | {np.mean([r['received'] for r in cell]):.0f} | "
                f"{np.mean([r['rounds_run'] for r in cell]):.1f} | "
                + ", ".join(f"{o} {n}/{len(cell)}" for o, n in combined.most_common())
                + f" | {sum(r['misleading_combined'] for r in cell)}/{len(cell)} | "
                + (f"{np.mean([r['misleading_asked'] for r in cell]):.1f}" if rounds == 2 else "")
                + " |"
            )
    said = {"above": "better", "below": "worse", "spans": "no different (the interval spans 0)"}
    lines += [
        "",
        "Two rounds against one, held-out hard accuracy: "
        + "; ".join(f"{said[v]}: {', '.join(c)}" for v, c in verdicts.items() if c)
        + ". Regret@3, two rounds against one (points, means over seeds): "
        + "; ".join(f"{side}: {', '.join(c)}" for side, c in regrets.items() if c)
        + ". With two rounds the second asks every useful owner for the rest of its budget (the "
        "per-owner cap binds before the pool runs out), so sharing in proportion to utility only "
        "matters from three rounds on. Most of what leaves an owner is the label audit's random "
        "sample, sent once in round 1; two rounds send fewer picks where owners are left out of "
        "round 2.",
    ]
    return "\n".join(lines) + "\n"


def _interval(values: np.ndarray, resamples: int = 2000) -> np.ndarray:
    """The 95% percentile bootstrap interval of the mean over seeds."""
    rng = np.random.default_rng(0)
    means = rng.choice(values, size=(resamples, len(values))).mean(axis=1)
    return np.percentile(means, [2.5, 97.5])


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    args = scenario_options(__doc__.split("\n\n")[0], list(BUDGETS), 5, argv)
    torch.set_num_threads(1)  # the trainer's small models: one thread is faster on a shared machine
    rows = [row for name in args.scenarios for row in measure(name, args.seeds)]
    publish(section(rows, args.seeds), args.print_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
