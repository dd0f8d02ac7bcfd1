"""Rounds: Mycroft in two acquisition rounds against one round at the same total budget per owner.

Per scenario, `compare` runs `mycroft` (one round: what `run()` and `simulate` do) and `mycroft, 2 rounds`
(the same strategy through `acquire(..., rounds=2)`: what `start(num_rounds=2)` and `simulate --rounds 2`
do), each owner allowed the same budget in total, at 5% and 10% of an owner's data, on the same fitted
trainers with full information as the reference. Figures: compare's (the combined model's held-out
hard accuracy and share of full information's gain, regret@3 beside random choice's, the owners
combined, what left the owners) and, kept by the driver from each report, the picks owners sent over
all rounds, the rounds run and what round 2 asked of each owner. `--quick`: digits, 2 seeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from benchmarks.drivers import Acquire, lean_runs, renamed
from benchmarks.md import Reading, ordered, paragraphs, provenances, table

TITLE = "## Rounds"
SEEDS = 10
SCENARIOS = ("digits", "credit", "diamonds")
BUDGETS = {"digits": (6, 12), "credit": (12, 24), "diamonds": (20, 40)}  # 5% and 10% of an owner
TWO = "mycroft, 2 rounds"


def _record(trainer, owners, config, report, rounds: int = 1) -> dict:
    d = report.to_dict()
    if "rounds" in d:
        picks = sum(r["sent"] for r in d["rounds"])
    else:
        picks = sum(o["shared"] + o.get("replayed", 0) for o in d["owners"])
    later: dict[str, int] = {}
    for r in d.get("rounds", [])[1:]:
        for o, e in r["owners"].items():
            later[o] = later.get(o, 0) + e["asked"]
    return {"picks": picks, "rounds_run": len(d.get("rounds", [])) or 1, "asked_later": later}


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)  # the trainer's small models: one thread is faster on a shared machine
    seeds = 2 if options.quick else options.seeds
    names = ["digits"] if options.quick else options.scenarios
    for name in names:
        driver = Acquire({TWO: {"rounds": 2}}, record=_record)
        strategies = ["mycroft", renamed("mycroft", TWO)]
        result = compare(load_scenario(name), strategies, list(BUDGETS[name]), seeds, driver=driver)
        yield name, {**lean_runs(result.to_dict()), "records": driver.records_list()}


# ------------------------------------------------------------------------------------------ section


def rows_of(doc: dict) -> list[dict]:
    """One row per seed, budget and number of rounds."""
    records = {(r["strategy"], r["budget"], r["seed"]): r for r in doc["records"]}
    misleading = set(doc["settings"]["misleading"])
    out = []
    for run in doc["runs"]:
        if run["strategy"] not in ("mycroft", TWO):
            continue
        rec = records[(run["strategy"], run["budget"], run["seed"])]
        out.append(
            {
                "scenario": doc["scenario"],
                "seed": run["seed"],
                "budget": run["budget"],
                "rounds": 2 if run["strategy"] == TWO else 1,
                "hard": run["combined_hard_accuracy"],
                "test": run["combined_test_accuracy"],
                "share": run["gain_fraction"],
                "combined": run["combined_owners"],
                "regret": run["regret_at_k"],
                "random_regret": run["random_regret_at_k"],
                "picks": rec["picks"],
                "received": run["exposed_total"],
                "rounds_run": rec["rounds_run"],
                "misleading_combined": bool(misleading & set(run["combined_owners"])),
                "misleading_asked": sum(
                    v for o, v in rec["asked_later"].items() if o in misleading
                ),
            }
        )
    return out


def _interval(values: np.ndarray) -> np.ndarray:
    """The 95% bootstrap interval of the mean over seeds (`Stat`'s)."""
    from mycroft_fl.evaluation.stats import Stat

    s = Stat.of(values.tolist())
    return np.array([s.lo, s.hi])


def section(entries: list[dict], reading: Reading) -> str:
    entries = ordered(entries, SCENARIOS)
    rows = [r for e in entries for r in rows_of(e["data"])]
    seeds = sorted({len(e["data"]["settings"]["seeds"]) for e in entries})
    body = []
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
                f"{100 * np.mean(mine):.1f} / {100 * np.mean(rnd):.1f} "
                f"({np.mean(mine) / np.mean(rnd):.2f})"
                if mine and rnd and np.mean(rnd) > 0
                else "–"
            )
            body.append(
                [
                    name,
                    budget,
                    rounds,
                    f"{np.mean([r['hard'] for r in cell]):.3f}",
                    f"{100 * np.mean(shares):.0f}%" if shares else "–",
                    delta,
                    regret,
                    f"{np.mean([r['test'] for r in cell]):.3f}",
                    f"{np.mean([r['picks'] for r in cell]):.0f}",
                    f"{np.mean([r['received'] for r in cell]):.0f}",
                    f"{np.mean([r['rounds_run'] for r in cell]):.1f}",
                    ", ".join(f"{o} {n}/{len(cell)}" for o, n in combined.most_common()),
                    f"{sum(r['misleading_combined'] for r in cell)}/{len(cell)}",
                    f"{np.mean([r['misleading_asked'] for r in cell]):.1f}" if rounds == 2 else "",
                ]
            )
    said = {"above": "better", "below": "worse", "spans": "no different (the interval spans 0)"}
    lines = table(
        (
            "scenario",
            "budget",
            "rounds",
            "held-out hard acc",
            "share of full-info gain",
            "Δ hard acc, pts [95% CI] (better/equal/worse)",
            "regret@3, pts: rounds / random choice (ratio)",
            "test acc",
            "picks",
            "received",
            "rounds run",
            "combined owners (seeds)",
            "seeds combining a misleading owner",
            "asked of misleading owners in round 2",
        ),
        "lrrrrllrrrrlrr",
        body,
    )
    return paragraphs(
        TITLE,
        f"`python -m benchmarks run rounds --seeds {', '.join(map(str, seeds))}` (in-process through "
        "`compare`, the code behind `start(num_rounds=2)` and `simulate --rounds 2`). Mycroft in two "
        "acquisition rounds against one round, each owner allowed the same budget in total: round 1 "
        "asks every owner for half of it; round 2 asks only the owners that are useful and not harmful "
        "for the rest, with the combined model and the hard query samples it still gets wrong, and "
        "stops early when that model gets them all right. Per scenario and budget, means over seeds "
        "(the scenario's seed and the next ones); share = (combined hard acc − control) / (full "
        "information's − control); Δ = two rounds − one round on the same trainer [95% bootstrap "
        "interval over seeds] (seeds where two rounds are better / equal / worse); picks = samples "
        "owners selected and sent, received = all that left owners (the label audit's random samples "
        "included); misleading = built to mislead (label noise >= 0.5 or a cheating behaviour: digits' "
        "noisy, credit's and diamonds' flipped).",
        lines,
        "Two rounds against one, held-out hard accuracy: "
        + "; ".join(f"{said[v]}: {', '.join(c)}" for v, c in verdicts.items() if c)
        + ". Regret@3, two rounds against one (points, means over seeds): "
        + "; ".join(f"{side}: {', '.join(c)}" for side, c in regrets.items() if c)
        + ".",
        reading.text,
        *provenances(entries),
    )
