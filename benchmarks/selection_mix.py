"""Selection: gradient matching mixed with coverage, against Mycroft alone and random (issue 10, item 3).

Is Mycroft's combined gain below random's at some budgets because gradient matching picks only the
hardest, most atypical samples (Sorscher et al., "Beyond neural scaling laws": with little data,
typical samples help more)? Each variant spends a share of every hard class's quota on Mycroft's
matching and the rest on coverage of the owner's remaining candidates of that class: feature-space
retrieval (nearest same-label neighbours of the hard samples, round-robin, `select_retrieval`) or random
samples. The share 1.0 with retrieval only fills what matching leaves unspent (the OMP stops when no
candidate still correlates positively). Per cell (scenario, budget, variant or not), `compare` runs
every variant as a strategy of its own on the same fitted trainers; the figure is the combined model's
held-out hard accuracy, its paired per-seed difference from random's with a 95% bootstrap interval, and
test accuracy. The mixes are research code, kept here and not in the package: none of them beat Mycroft
alone. `--cells scenario:budget[:all],...`; `--quick`: digits at 6, 2 seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from benchmarks.md import Reading, ordered, paragraphs, provenances, table

TITLE = "## Selection: gradient matching mixed with coverage"
SEEDS = 10
# scenario:budget[:all]; the budgets are the evidence benchmark's small, 5% and 10% ones
CELLS = (
    "digits:3,digits:6,digits:12,digits:6:all,diamonds:8,diamonds:20,diamonds:40,diamonds:20:all,"
    "credit:4,credit:12"
)
#: The variants as (label, matching share, what fills the rest); None: the shipped selector.
VARIANTS = (
    ("mycroft", None, "mycroft"),
    ("mycroft, unspent filled by retrieval", 1.0, "retrieval"),
    ("3/4 matching + 1/4 retrieval", 0.75, "retrieval"),
    ("1/2 matching + 1/2 retrieval", 0.5, "retrieval"),
    ("1/4 matching + 3/4 retrieval", 0.25, "retrieval"),
    ("1/2 matching + 1/2 random", 0.5, "random"),
    ("random", None, "random"),
)


def add_options(parser) -> None:
    parser.add_argument("--cells", default=CELLS, help="scenario:budget[:all], comma-separated")


def matching_mix():
    """The selector class: Mycroft on `matching` of each class's quota (rounded up), `rest` (random or
    retrieval) on the remaining picks; registered under its name, since owners build the query's
    selector by name."""
    from mycroft_fl.core.params import Constraint, Interval, Options
    from mycroft_fl.owner import selectors
    from mycroft_fl.owner.budget import interleave
    from mycroft_fl.owner.omp import nonneg_ridge_omp
    from mycroft_fl.owner.retrieval import select_retrieval

    if "matching-mix" in selectors.SELECTORS:
        return selectors.SELECTORS["matching-mix"]

    @dataclass(frozen=True)
    class MatchingMix(selectors.Mycroft):
        name: ClassVar[str] = "matching-mix"
        constraints: ClassVar[dict[str, Constraint]] = {
            **selectors.Mycroft.constraints,
            "matching": Interval(float, 0, 1),
            "rest": Options(("random", "retrieval")),
        }
        matching: float = 1.0
        rest: str = "retrieval"

        def select(self, owner, hard, budget, *, seed=0):
            rng = np.random.default_rng(seed)
            picks = []
            for c, cand, k in selectors._quotas(owner, hard, budget):
                chosen = np.empty(0, dtype=np.int64)
                k_match = int(np.ceil(self.matching * k))
                if k_match:
                    distance2 = selectors.anchor_distance2(
                        owner.embeddings[cand], hard.embeddings[hard.y == c], self.anchor
                    )
                    typical = np.median(distance2)
                    typical = typical if typical > 0 else distance2.max()
                    weights = (
                        self.ridge * self.penalty * distance2 / typical if typical > 0 else None
                    )
                    index, _ = nonneg_ridge_omp(
                        owner.gradients[cand],
                        hard.targets[c],
                        k_match,
                        ridge=self.ridge,
                        penalty=weights,
                    )
                    chosen = cand[index]
                rest = np.setdiff1d(cand, chosen)
                left = min(k - len(chosen), len(rest))
                if left > 0 and self.rest == "random":
                    chosen = np.concatenate([chosen, rng.choice(rest, size=left, replace=False)])
                elif left > 0:
                    mine = hard.y == c
                    order = select_retrieval(
                        owner.embeddings[rest],
                        owner.y[rest],
                        hard.embeddings[mine],
                        hard.y[mine],
                        left,
                    )
                    chosen = np.concatenate([chosen, rest[order]])
                picks.append(chosen.astype(np.int64))
            return interleave(picks)

    selectors.SELECTORS[MatchingMix.name] = MatchingMix
    return MatchingMix


def strategies() -> list:
    from mycroft_fl.owner import selectors
    from mycroft_fl.trainer.strategy_config import StrategyConfig
    from mycroft_fl.trainer.valuers import Retrain

    mix = matching_mix()
    out = []
    for label, share, rest in VARIANTS:
        if share is None:
            selector = selectors.Mycroft() if rest == "mycroft" else selectors.Random()
        else:
            selector = mix(matching=share, rest=rest)
        out.append(StrategyConfig(name=label, selector=selector, valuer=Retrain()))
    return out


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    cells = "digits:6" if options.quick else options.cells
    for cell in cells.split(","):
        name, budget, *rest = cell.split(":")
        scenario = load_scenario(name)
        scenario = scenario.without_hard_classes() if rest == ["all"] else scenario
        result = compare(scenario, strategies(), [int(budget)], seeds)
        runs = [
            {
                "strategy": r.strategy,
                "seed": r.seed,
                "hard": r.combined_hard_accuracy,
                "test": r.combined_test_accuracy,
            }
            for r in result.runs
            if r.strategy != "full-information"
        ]
        yield (
            cell,
            {"scenario": name, "budget": int(budget), "all_classes": rest == ["all"], "runs": runs},
        )


# ------------------------------------------------------------------------------------------ section


def row(d: dict) -> list[str]:
    """One cell: per variant, mean hard accuracy (points) and its paired difference from random's."""
    from mycroft_fl.evaluation.stats import Stat

    by = {
        label: sorted((r for r in d["runs"] if r["strategy"] == label), key=lambda r: r["seed"])
        for label, _, _ in VARIANTS
    }
    base = np.array([100 * r["hard"] for r in by["random"]])
    cells = []
    for label, _, _ in VARIANTS:
        a = np.array([100 * r["hard"] for r in by[label]])
        text = f"{a.mean():.1f}"
        if label != "random":
            s = Stat.of((a - base).tolist())
            text += f" ({a.mean() - base.mean():+.1f} [{s.lo:+.1f}, {s.hi:+.1f}])"
        cells.append(text)
    variant = " (no named hard classes)" if d["all_classes"] else ""
    return [f"{d['scenario']}{variant}, budget {d['budget']}", *cells]


def section(entries: list[dict], reading: Reading) -> str:
    entries = ordered(entries, CELLS.split(","))
    rows = [e["data"]["row"] if "row" in e["data"] else row(e["data"]) for e in entries]
    return paragraphs(
        TITLE,
        "`python -m benchmarks run selection_mix` (every cell through `compare`, each variant a "
        "strategy of its own on the same trainers): combined held-out hard accuracy, (difference from "
        "random, 95% bootstrap interval over seeds).",
        table(("cell", *(label for label, _, _ in VARIANTS)), "l" * (len(VARIANTS) + 1), rows),
        reading.text,
        *provenances(entries),
    )
