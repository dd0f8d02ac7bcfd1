"""Selection: gradient matching mixed with coverage, against Mycroft alone and random (issue 10, item 3).

Run:

    .venv/bin/python scripts/bench_selection_mix.py [--seeds 10] [--cells digits:6,diamonds:20:all,...]
        [--write]

Is Mycroft's combined gain below random's at some budgets because gradient matching picks only the
hardest, most atypical samples (Sorscher et al., "Beyond neural scaling laws": with little data,
typical samples help more)? Each variant spends a share of every hard class's quota on Mycroft's
matching and the rest on coverage of the owner's remaining candidates of that class: feature-space
retrieval (nearest same-label neighbours of the hard samples, round-robin, `select_retrieval`) or random
samples. The share 1.0 with retrieval only fills what matching leaves unspent (the OMP stops when no
candidate still correlates positively). Every variant runs through `value_with`, the engine behind
`simulate`, on the same fitted trainers; the figure is the combined model's held-out hard accuracy, its
paired per-seed difference from random's with a 95% percentile bootstrap interval, and test accuracy.
The mixes are research code, kept here and not in the package: none of them beat Mycroft alone (see the
section this writes, "## Selection: gradient matching mixed with coverage").
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from benchmarks_md import write_section  # scripts/ is on sys.path when run as a script

from mycroft_fl.core.params import Constraint, Interval, Options
from mycroft_fl.owner import selectors
from mycroft_fl.owner.budget import interleave
from mycroft_fl.owner.omp import nonneg_ridge_omp
from mycroft_fl.owner.retrieval import select_retrieval
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import value_with
from mycroft_fl.trainer.strategy_config import StrategyConfig
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.valuers import Retrain

SECTION = "## Selection: gradient matching mixed with coverage"
COMMAND = ".venv/bin/python scripts/bench_selection_mix.py"
# scenario:budget[:all]; the budgets are bench_evidence's small, 5% and 10% ones
CELLS = (
    "digits:3,digits:6,digits:12,digits:6:all,diamonds:8,diamonds:20,diamonds:40,diamonds:20:all,"
    "credit:4,credit:12,credit:24"
)


@dataclass(frozen=True)
class MatchingMix(selectors.Mycroft):
    """Mycroft on `matching` of each class's quota (rounded up), `rest` on the remaining picks."""

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
                weights = self.ridge * self.penalty * distance2 / typical if typical > 0 else None
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
                    owner.embeddings[rest], owner.y[rest], hard.embeddings[mine], hard.y[mine], left
                )
                chosen = np.concatenate([chosen, rest[order]])
            picks.append(chosen.astype(np.int64))
        return interleave(picks)


selectors.SELECTORS[MatchingMix.name] = MatchingMix  # owners build the query's selector by name

# A reading of the recorded run, written by hand from its table; re-read it whenever the figures change.
READING = (
    "Reading (run of 2026-12-02, commit 6e4f636, 10 seeds a cell): no mix beats Mycroft alone across "
    "the cells, so Mycroft's selection stays as it is. Filling what matching leaves unspent changes "
    "almost nothing (the OMP rarely stops early at these budgets). Three quarters matching ties Mycroft "
    "on digits, gains 2 points at credit's 12 rows and turns diamonds at 5% from -1.3 into +1.1 points, "
    "but loses diamonds at 2% (-0.1 against +1.5), at 10% (+0.4 against +2.8) and without named hard "
    "classes (+2.1 against +2.8). Half or a quarter matching costs 6.7 points at digits' 3 samples and "
    "2 at 12; half matching with random picks is below Mycroft in 8 of 10 cells. The one cell where "
    "Mycroft trails random (diamonds at 5%) is not a selection effect that coverage repairs: the "
    "evidence tables trace it to which owners enter the combined model (the column-shuffled owner's "
    "rows look as useful as the best owners')."
)

VARIANTS = {
    "mycroft": selectors.Mycroft(),
    "mycroft, unspent filled by retrieval": MatchingMix(matching=1.0, rest="retrieval"),
    "3/4 matching + 1/4 retrieval": MatchingMix(matching=0.75, rest="retrieval"),
    "1/2 matching + 1/2 retrieval": MatchingMix(matching=0.5, rest="retrieval"),
    "1/4 matching + 3/4 retrieval": MatchingMix(matching=0.25, rest="retrieval"),
    "1/2 matching + 1/2 random": MatchingMix(matching=0.5, rest="random"),
    "random": selectors.Random(),
}


def run_cell(name: str, budget: int, all_classes: bool, seeds: int) -> dict[str, np.ndarray]:
    """Per variant, (seeds, 2) combined hard and test accuracy."""
    scenario = load_scenario(name)
    scenario = scenario.without_hard_classes() if all_classes else scenario
    data, owners = scenario.trainer_data(), scenario.owners_data()
    behaviours = {o.id: o.behaviour for o in scenario.owners}
    out = {v: [] for v in VARIANTS}
    for i in range(seeds):
        trainer = Trainer(data, scenario.trainer, seed=scenario.seed + i)
        for label, selector in VARIANTS.items():
            config = StrategyConfig(name="mix", selector=selector, valuer=Retrain(), budget=budget)
            report = value_with(trainer, owners, config, scenario=name, behaviours=behaviours)
            out[label].append((report.combined["hard_accuracy"], report.combined["test_accuracy"]))
        print(f"  {name} budget {budget}: seed {i + 1}/{seeds}", flush=True)
    return {v: 100 * np.array(rows) for v, rows in out.items()}


def interval(d: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = rng.choice(d, size=(4000, len(d))).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--cells", default=CELLS, help="scenario:budget[:all], comma-separated")
    p.add_argument("--write", action="store_true", help=f"write {SECTION!r} into BENCHMARKS.md")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    head = "| cell | " + " | ".join(VARIANTS) + " |"
    lines = [head, "|---|" + "---|" * len(VARIANTS)]
    for cell in args.cells.split(","):
        name, budget, *rest = cell.split(":")
        result = run_cell(name, int(budget), rest == ["all"], args.seeds)
        base = result["random"][:, 0]
        row = []
        for label, a in result.items():
            text = f"{a[:, 0].mean():.1f}"
            if label != "random":
                low, high = interval(a[:, 0] - base, rng)
                text += f" ({a[:, 0].mean() - base.mean():+.1f} [{low:+.1f}, {high:+.1f}])"
            row.append(text)
        variant = " (no named hard classes)" if rest == ["all"] else ""
        lines.append(f"| {name}{variant}, budget {budget} | " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    if args.write:
        cells = "" if args.cells == CELLS else f" --cells {args.cells}"
        write_section(
            f"{SECTION}\n\nGenerated by `{COMMAND} --seeds {args.seeds}{cells} --write`; "
            "combined held-out hard accuracy, (difference from random, 95% bootstrap interval "
            "over seeds).\n\n" + "\n".join(lines) + "\n\n" + READING + "\n"
        )


if __name__ == "__main__":
    main()
