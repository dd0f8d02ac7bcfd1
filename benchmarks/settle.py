"""Settling the first places (a strategy's `settle`): rounds spent only on the owners whose place among
the first k is in doubt, against one round, on owners that differ only in how much useful data they hold.

Scenarios (benchmarks/data/holdings-*.toml): `rich` and `poor` hold the same kind of data, `rich`
three times as much; the other honest owners as in the shipped scenario. Per scenario, `compare` runs on
the same trainers: `mycroft` in one round at 5% of an owner's data (b) and at 2b, and `mycroft` with
`settle` = 1 and = 3 in up to 8 rounds at b, and `settle` = 1 in up to 4 (round 1 asks every owner
for b; each later round asks the unsettled owners for b more). Figures per run: the samples that left
the owners, the rounds run, whether full information's first owner is ranked first, whether `rich`
and `poor` are ordered as full information orders them, regret@3 beside random choice's and Kendall
tau-b among honest owners. `--quick`: digits, 2 seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.drivers import Acquire, lean_runs, renamed
from benchmarks.md import Reading, paragraphs, provenances, table

TITLE = "## Settling the first places: a rich owner told from a good one"
SEEDS = 10
DATA = Path(__file__).resolve().parent / "data"
SCENARIOS = ("holdings-digits", "holdings-diamonds")
BUDGET = {"holdings-digits": 6, "holdings-diamonds": 20}  # 5% of an owner's data
#: Strategy -> (settle, rounds at most): 8 rounds reach 8b, 40% of an owner's data, beyond what `poor`
#: holds of the hard classes; 4 rounds (4b, 20%) stay below it.
SETTLING = {
    "mycroft, settle 1, 4 rounds": (1, 4),
    "mycroft, settle 1": (1, 8),
    "mycroft, settle 3": (3, 8),
}


def _record(trainer, owners, config, report, rounds: int = 1) -> dict:
    d = report.to_dict()
    return {
        "rounds_run": len(d.get("rounds", [])) or 1,
        "unsettled": [r.get("unsettled", []) for r in d.get("rounds", [])],
        "stopped": next((r["stopped"] for r in d.get("rounds", []) if "stopped" in r), None),
    }


def measure(options) -> Iterator[tuple[str, dict]]:
    import dataclasses

    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    for name in ["holdings-digits"] if options.quick else options.scenarios:
        scenario = load_scenario(DATA / f"{name}.toml")
        b = BUDGET[name]
        driver = Acquire({s: {"rounds": r} for s, (_, r) in SETTLING.items()}, record=_record)
        settling = [
            dataclasses.replace(renamed("mycroft", s), settle=k) for s, (k, _) in SETTLING.items()
        ]
        at_b = compare(scenario, ["mycroft", *settling], [b], seeds, driver=driver)
        at_2b = compare(scenario, ["mycroft"], [2 * b], seeds, driver=driver)
        yield (
            name,
            {
                "at_b": lean_runs(at_b.to_dict()),
                "at_2b": lean_runs(at_2b.to_dict()),
                "records": driver.records_list(),
            },
        )


# ------------------------------------------------------------------------------------------ section


def _first(run: dict) -> str | None:
    ranked = [(o["rank"], k) for k, o in run["owners"].items() if o["rank"] is not None]
    return min(ranked)[1] if ranked else None


def _rich_first(run: dict) -> bool:
    return run["owners"]["rich"]["rank"] < run["owners"]["poor"]["rank"]


def rows_of(data: dict) -> list[list[str]]:
    """One row per strategy and budget: means or counts over seeds."""
    runs = data["at_b"]["runs"] + data["at_2b"]["runs"]
    reference = {r["seed"]: r for r in runs if r["strategy"] == "full-information"}
    records = {(r["strategy"], r["budget"], r["seed"]): r for r in data["records"]}
    out = []
    cells = [
        ("mycroft", data["at_b"]["settings"]["budgets"][0]),
        *[(s, data["at_b"]["settings"]["budgets"][0]) for s in SETTLING],
        ("mycroft", data["at_2b"]["settings"]["budgets"][0]),
    ]
    for strategy, budget in cells:
        cell = [r for r in runs if (r["strategy"], r["budget"]) == (strategy, budget)]
        cell = list({r["seed"]: r for r in cell}.values())  # each seed once
        first = sum(_first(r) == _first(reference[r["seed"]]) for r in cell)
        rich = sum(_rich_first(r) == _rich_first(reference[r["seed"]]) for r in cell)
        ref_rich = sum(_rich_first(reference[r["seed"]]) for r in cell)
        regret = [r["regret_at_k"] for r in cell if r["regret_at_k"] is not None]
        rnd = [r["random_regret_at_k"] for r in cell if r["random_regret_at_k"] is not None]
        rounds = [records.get((strategy, budget, r["seed"]), {}).get("rounds_run", 1) for r in cell]
        out.append(
            [
                data["at_b"]["scenario"],
                strategy,
                budget,
                len(cell),
                f"{np.mean([r['exposed_total'] for r in cell]):.0f}",
                f"{np.mean(rounds):.1f}",
                f"{first}/{len(cell)}",
                f"{rich}/{len(cell)} ({ref_rich})",
                f"{100 * np.mean(regret):.1f} / {100 * np.mean(rnd):.1f}" if regret else "–",
                f"{np.nanmean([np.nan if r['kendall_honest'] is None else r['kendall_honest'] for r in cell]):.2f}",
                f"{np.mean([r['combined_hard_accuracy'] for r in cell]):.3f}",
            ]
        )
    return out


def section(entries: list[dict], reading: Reading) -> str:
    rank = {name: i for i, name in enumerate(SCENARIOS)}
    entries = sorted(entries, key=lambda e: rank.get(e["key"], len(rank)))
    seeds = sorted({len(e["data"]["at_b"]["settings"]["seeds"]) for e in entries})
    return paragraphs(
        TITLE,
        f"`python -m benchmarks run settle --seeds {', '.join(map(str, seeds))}` (in-process through "
        "`compare`, on the same trainers). Issue 18 item 4. In each scenario `rich` and `poor` hold "
        "the same kind of data, `rich` three times as much (benchmarks/data/holdings-*.toml). "
        "`mycroft` runs in one round at 5% of an owner's data (b) and "
        "at 2b; `settle 1` and `settle 3` in up to 8 rounds at b (`settle 1, 4 rounds`: up to 4): "
        "round 1 asks every owner for b, each later round asks b more of the owners whose value's "
        "interval crosses the boundary of the first 1 or 3, until it is settled. 8b is 40% of an "
        "owner's data, more than `poor` holds of the hard classes; 4b is less. Per scenario, "
        "strategy and budget: "
        "received = samples that left the owners (means over seeds, audits included); first = seeds "
        "where full information's first owner is ranked first; rich, poor as full info = seeds that "
        "order `rich` and `poor` as full information does (in brackets: the seeds where full "
        "information puts `rich` first); regret@3 in points beside random choice's; Kendall tau-b among honest owners "
        "against full information; the combined model's held-out hard accuracy.",
        table(
            (
                "scenario",
                "strategy",
                "budget",
                "seeds",
                "received",
                "rounds run",
                "first",
                "rich, poor as full info (rich first there)",
                "regret@3, pts / random's",
                "Kendall tau-b, honest",
                "combined hard acc",
            ),
            "llrrrrrrrrr",
            (row for e in entries for row in rows_of(e["data"])),
        ),
        reading.text,
        *provenances(entries),
    )
