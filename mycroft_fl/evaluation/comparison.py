"""`compare`: several strategies, budgets and seeds on one scenario, measured against full information.

Each seed fits one `Trainer` that every strategy and budget of that seed shares, so the runs of a seed differ
only in what the owners send. `full-information` is always run once per seed as the reference; the other
unbudgeted strategies (the data-valuation baselines `loo` and `shapley`, on the owners' full data) once per
seed too. Every run goes through a `Driver`, by default `trainer.in_process.acquire` (the acquisition engine
behind `simulate`, in-process); a benchmark passes its own to measure another way of running a strategy by the same
protocol. Each run is measured by the evaluation protocol (`protocol.py`), with 95% bootstrap intervals over
seeds (`stats.py`); the comparison writes its tables, JSON and plots (`plots.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Protocol

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.progress import Progress, shows_progress
from mycroft_fl.evaluation.plots import plot_accuracy, plot_ranking
from mycroft_fl.evaluation.protocol import (
    DEFINITIONS,
    FIGURES,
    METRICS,
    PROTOCOL,
    RANDOM,
    REFERENCE,
    SHAPLEY,
    TOP_K,
    Run,
    coalition_values,
    misleading_owners,
    run_figures,
)
from mycroft_fl.evaluation.stats import Aggregate, Stat
from mycroft_fl.scenarios.spec import Scenario
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.ranking import ndcg_at_k, precision_at_k, rank_quality
from mycroft_fl.trainer.report import Report, clean_json
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer

DEFAULT_STRATEGIES = ("mycroft", "gradmatch", "retrieval", "random")
DEFAULT_BUDGETS = (8, 16, 32)


def parse_list(text: str) -> list[str]:
    """`a,b,c` as a list of names; spaces and empty items are ignored."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_budgets(text: str) -> list[int]:
    """`8,16,32` as a list of integers; `check_budgets` says whether they are usable."""
    try:
        return [int(part) for part in parse_list(text)]
    except ValueError:
        raise InputError(
            f"budgets must be positive integers separated by commas, got {text!r}"
        ) from None


def check_budgets(budgets: Sequence[int]) -> list[int]:
    """The budgets ascending and without repeats; InputError unless all are positive integers."""
    bad = [b for b in budgets if not isinstance(b, int) or isinstance(b, bool) or b < 1]
    if bad or not budgets:
        raise InputError(f"budgets must be positive integers, got {list(budgets)!r}")
    return sorted(set(budgets))


def resolve_strategies(strategies: Iterable[str | StrategyConfig]) -> list[StrategyConfig]:
    """The strategies to compare, by preset name, file or object; the reference is left out (it always runs)."""
    configs = [resolve_strategy(s) for s in strategies]
    if not configs:
        raise InputError("no strategies to compare")
    names = [c.name for c in configs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"strategy {repeated[0]!r} given twice")
    return [c for c in configs if c.name != REFERENCE]


class Driver(Protocol):
    """Runs one strategy on a seed's fitted trainer and reports it: what `compare` calls for every run,
    the reference's included. `acquire` is one; a benchmark's may drive rounds, pick a variant of the
    selector by `config.name`, and so on, and gets the same protocol's figures."""

    def __call__(
        self,
        trainer: Trainer,
        owners: Mapping[str, Dataset],
        config: StrategyConfig,
        *,
        scenario: str,
        progress: Progress | None,
        behaviours: Mapping[str, str],
    ) -> Report:
        """Run `config` on the seed's trainer and report it.

        Parameters
        ----------
        trainer
            The seed's fitted trainer, shared by every run of the seed.
        owners
            Each owner's data, by id.
        config
            The strategy, at the run's budget.
        scenario
            The scenario's name, for the report.
        progress
            Shown each step of a long run (data valuation), else None.
        behaviours
            Each owner's scripted behaviour (`honest` or an attack), by id.

        Returns
        -------
        Report
            The run's report.
        """
        ...


@dataclass
class Comparison:
    """Every run's figures (`runs`), per-seed trainer facts (`trainers`), and the settings."""

    scenario: str
    settings: dict
    trainers: list[dict]
    runs: list[Run]
    total_s: float

    @property
    def strategies(self) -> list[str]:
        return self.settings["strategies"]

    def figures(self, run: Run) -> dict[str, float | None]:
        """Every figure of `METRICS` for one run, those paired with random's and Data Shapley's runs of
        its seed included."""
        k = self.settings["k"]
        paired = {(r.strategy, r.budget, r.seed): r for r in self.runs}
        rnd = paired.get((RANDOM, run.budget, run.seed)) if run.budget is not None else None
        shapley = paired.get((SHAPLEY, None, run.seed))
        return {
            **{key: getattr(run, key) for key in METRICS if hasattr(run, key)},
            "minus_random": None
            if rnd is None
            else run.combined_hard_accuracy - rnd.combined_hard_accuracy,
            "precision_at_k_shapley": None
            if shapley is None
            else precision_at_k(run.scores(), shapley.scores(), k),
            "ndcg_at_k_shapley": None
            if shapley is None
            else ndcg_at_k(run.scores(), shapley.scores(), k),
        }

    def aggregates(self) -> list[Aggregate]:
        """Statistics over seeds of every figure, per strategy and budget; the reference first."""
        groups: dict[tuple, list[dict]] = {}
        for run in self.runs:
            groups.setdefault((run.strategy, run.budget), []).append(self.figures(run))
        return [
            Aggregate(s, b, {k: Stat.of(f[k] for f in figs) for k in METRICS})
            for (s, b), figs in groups.items()
        ]

    def control(self) -> dict[str, Stat]:
        return {k: Stat.of(t[k] for t in self.trainers) for k in ("hard_accuracy", "test_accuracy")}

    def reference_agreement(self) -> Stat:
        """Kendall tau-b of full information's ranking between every pair of seeds, over the owners
        that are not misleading: how far the reference agrees with itself."""
        refs = [r for r in self.runs if r.strategy == REFERENCE]
        leave = self.settings["misleading"]
        return Stat.of(
            rank_quality(a.scores(leave), b.scores(leave))["kendall_tau_b"]
            for a, b in combinations(refs, 2)
        )

    def merge(self, other: Comparison) -> Comparison:
        """This comparison with `other`'s strategies added: a comparison of the same scenario on some of the
        same seeds (so on the very same trainers), e.g. costly strategies run on fewer seeds."""
        if other.scenario != self.scenario or not set(other.settings["seeds"]) <= set(
            self.settings["seeds"]
        ):
            raise InputError(
                "can only merge a comparison of the same scenario on some of the same seeds"
            )
        settings = {
            **self.settings,
            "strategies": [
                *self.strategies,
                *(s for s in other.strategies if s not in self.strategies),
            ],
        }
        runs = self.runs + [r for r in other.runs if r.strategy != REFERENCE]
        return Comparison(
            self.scenario, settings, self.trainers, runs, self.total_s + other.total_s
        )

    def to_dict(self) -> dict:
        return clean_json(
            {
                "scenario": self.scenario,
                "settings": self.settings,
                "definitions": DEFINITIONS,
                "control": {k: asdict(v) for k, v in self.control().items()},
                "reference_agreement": asdict(self.reference_agreement()),
                "aggregates": [a.to_dict() for a in self.aggregates()],
                "trainers": self.trainers,
                "runs": [asdict(r) for r in self.runs],
                "timings": {"total_s": round(self.total_s, 3)},
            }
        )

    def rows(self, columns: Mapping[str, tuple[str, str]] = FIGURES) -> list[list[str]]:
        """A side-by-side table of `columns`: a heading, the control, then one row per strategy and budget.
        Cells of `FIGURES` are mean ± sd, others mean [95% interval]."""
        interval = columns is not FIGURES
        rows = [["strategy", "budget", *(label for label, _ in columns.values())]]
        if not interval:
            control = self.control()
            rows.append(
                [
                    "control (no owner data)",
                    "0",
                    _cell(control["hard_accuracy"], ".3f"),
                    _cell(control["test_accuracy"], ".3f"),
                    *[""] * (len(columns) - 2),
                ]
            )
        for agg in self.aggregates():
            rows.append(
                [
                    agg.strategy,
                    "all" if agg.budget is None else str(agg.budget),
                    *(_cell(agg.stats[k], fmt, interval) for k, (_, fmt) in columns.items()),
                ]
            )
        return rows

    def table(self) -> str:
        """Both tables as aligned plain text."""
        return "\n\n".join(_plain(self.rows(c)) for c in (FIGURES, PROTOCOL))

    def markdown(self, command: str) -> str:
        tables = []
        for columns in (FIGURES, PROTOCOL):
            rows = self.rows(columns)
            tables += [f"| {' | '.join(rows[0])} |", "|" + "---|" * 2 + "---:|" * len(columns)]
            tables += [f"| {' | '.join(r)} |" for r in rows[1:]] + [""]
        s = self.settings
        agree = self.reference_agreement()
        return "\n".join(
            [
                f"# mycroft-fl compare: {self.scenario}",
                "",
                "```",
                command,
                "```",
                "",
                f"Scenario `{s['scenario_file']}` with {s['owners']} owners; strategies {', '.join(s['strategies'])} "
                f"at budgets {', '.join(map(str, s['budgets']))} (samples per owner), and `{REFERENCE}` as the "
                f"reference; seeds {', '.join(map(str, s['seeds']))}. The first table's cells are mean ± standard "
                f"deviation over seeds, the second's mean [95% bootstrap interval]; k = {s['k']}; misleading "
                f"owners: {', '.join(s['misleading']) or 'none'}. "
                f"Budget `all`: not budgeted (`{REFERENCE}`: every owner sample of the hard classes; the "
                f"data-valuation baselines `loo` and `shapley`: every owner sample). Full information's "
                f"seed-to-seed Kendall tau-b over the owners that do not mislead: {_cell(agree, '.2f', True)}. "
                f"Total wall time {self.total_s:.0f} s.",
                "",
                *tables,
                *(f"- `{k}`: {v}." for k, v in DEFINITIONS.items()),
                "",
                "![combined hard accuracy vs budget](accuracy_vs_budget.png)",
                "",
                *(
                    f"![{name}: owner utilities against full information](ranking_{name}.png)"
                    for name in self.strategies
                ),
                "",
            ]
        )

    def write(self, out: str | Path, command: str) -> Path:
        """Write compare.json, compare.md and the plots into directory `out`; return compare.json's path."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        (out / "compare.md").write_text(self.markdown(command))
        plot_accuracy(
            self.aggregates(),
            self.strategies,
            self.control()["hard_accuracy"],
            self.settings["budgets"],
            f"{self.scenario}: mean ± sd over {len(self.settings['seeds'])} seeds",
            out / "accuracy_vs_budget.png",
        )
        for name in self.strategies:
            plot_ranking(self.runs, name, self.scenario, out / f"ranking_{name}.png")
        return out / "compare.json"


@shows_progress
def compare(
    scenario: Scenario,
    strategies: Iterable[str | StrategyConfig] = DEFAULT_STRATEGIES,
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    seeds: int = 3,
    *,
    k: int = TOP_K,
    progress: bool | Progress | None = None,
    driver: Driver = acquire,
) -> Comparison:
    """Run every strategy at every budget (unbudgeted ones once) and the reference, for `seeds` seeds
    counted from the scenario's own, and measure each against the reference.

    Parameters
    ----------
    scenario
        The scenario: its trainer data and owners.
    strategies
        Preset names, files or configs; `full-information` always runs as the reference.
    budgets
        Samples an owner may share; the budgeted strategies run at each.
    seeds
        How many seeds.
    k
        Owners bought in the regret@k, precision@k and NDCG@k figures; every coalition of k owners is
        retrained once a seed on full information's subsets.
    progress
        True: progress bars on stderr while it runs (as `value_owners`); a callable is called as
        `progress(stage, done, total)` each step. Default: none.
    driver
        Runs each strategy on the seed's fitted trainer, the reference included (`Driver`); by default
        the acquisition engine in-process, `acquire`.

    Returns
    -------
    Comparison
        Every run's figures and the settings.
    """
    start = time.perf_counter()
    configs = resolve_strategies(strategies)
    budgets = check_budgets(budgets)
    for name, value in (("seeds", seeds), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    seed_list = [scenario.seed + i for i in range(seeds)]
    trainer_data, owners = scenario.trainer_data(), scenario.owners_data()
    misleading = misleading_owners(scenario)
    plan = [
        resolve_strategy(REFERENCE),
        *(resolve_strategy(c, b) for c in configs if c.budgeted for b in budgets),
        *(c for c in configs if not c.budgeted),
    ]
    step = _steps(progress, (2 + len(plan)) * seeds)
    trainers, runs = [], []
    for seed in seed_list:
        step(f"seed {seed}, fitting the trainer")
        t0 = time.perf_counter()
        trainer = Trainer(trainer_data, scenario.trainer, seed=seed)
        trainers.append(
            {"seed": seed, **trainer.summary(), "fit_s": round(time.perf_counter() - t0, 3)}
        )
        reports = []
        for config in plan:
            step(
                f"seed {seed}, {config.name}"
                + (f" at budget {config.budget}" if config.budgeted else "")
            )
            # a data-valuation run retrains once per coalition of owners, for minutes: show its progress too
            inner = progress if config.valuer.on_coalitions else None
            reports.append(
                driver(
                    trainer,
                    owners,
                    config,
                    scenario=scenario.name,
                    progress=inner,
                    behaviours={o.id: o.behaviour for o in scenario.owners},
                )
            )
        step(f"seed {seed}, every coalition of {k} owners on full information's subsets")
        values = coalition_values(trainer, reports[0], k)
        runs += [
            run_figures(r, reports[0], values, misleading, k=k, budgeted=c.budgeted)
            for c, r in zip(plan, reports)
        ]
    step("done")
    settings = {
        "scenario_file": str(scenario.path),
        "owners": len(owners),
        "strategies": [c.name for c in configs],
        "budgets": budgets,
        "seeds": seed_list,
        "k": k,
        "misleading": misleading,
    }
    return Comparison(scenario.name, settings, trainers, runs, time.perf_counter() - start)


def _steps(progress: Progress | None, total: int) -> Callable[[str], None]:
    """A callable that shows `label` as the step now running, out of `total` (then `done` at the end)."""
    done = 0

    def step(label: str) -> None:
        nonlocal done
        if progress:
            progress(f"compare: {label}", done, total)
        done += 1

    return step


def _cell(s: Stat, fmt: str, interval: bool = False) -> str:
    if s.mean is None:
        return "-"
    if interval:
        return format(s.mean, fmt) + (
            "" if s.lo is None else f" [{format(s.lo, fmt)}, {format(s.hi, fmt)}]"
        )
    return format(s.mean, fmt) + ("" if s.std is None else f" ± {format(s.std, fmt.lstrip('+'))}")


def _plain(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    )
