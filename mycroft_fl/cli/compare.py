"""`mycroft-fl compare`: several strategies, budgets and seeds on one scenario, measured against full information.

Every run goes through `trainer.in_process.value_with`, the engine behind `simulate`, in-process. Each seed fits one
`Trainer` that every strategy and budget of that seed shares, so the runs of a seed differ only in what
the owners send. `full-information` is always run once per seed as the reference; the other unbudgeted
strategies (the data-valuation baselines `loo` and `shapley`, on the owners' full data) once per seed too.
Each run is measured by an evaluation protocol (`PROTOCOL`, defined in `DEFINITIONS`): its gain over random's,
acquisition regret@k on full information's subsets, precision@k and NDCG@k, harm detection against the owners
built to mislead, with 95% bootstrap intervals over seeds.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.progress import Progress
from mycroft_fl.scenarios.spec import Scenario
from mycroft_fl.trainer.coalitions import Coalitions
from mycroft_fl.trainer.in_process import value_with
from mycroft_fl.trainer.ranking import (
    acquisition_regret,
    detection,
    ndcg_at_k,
    precision_at_k,
    random_regret,
    rank_quality,
    top_k,
)
from mycroft_fl.trainer.report import Report, clean_json
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer

REFERENCE = "full-information"
SHAPLEY = "shapley"
RANDOM = "random"
DEFAULT_STRATEGIES = ("mycroft", "gradmatch", "retrieval", "random")
DEFAULT_BUDGETS = (8, 16, 32)
TOP_K = 3
MISLEADING_LABEL_NOISE = 0.5
RESAMPLES = 2000  # bootstrap resamples of the seeds

# Per-run figures: key -> (column heading, format); the first table, then the evaluation protocol's.
FIGURES = {
    "combined_hard_accuracy": ("combined hard acc", ".3f"),
    "combined_test_accuracy": ("combined test acc", ".3f"),
    "gain_fraction": ("share of full-info gain", ".0%"),
    "owners_hard_accuracy": ("owners' hard acc", ".3f"),
    "owners_utility": ("owners' utility", "+.3f"),
    "exposed_total": ("samples sent", ".1f"),
    "exposed_per_owner": ("sent per owner", ".1f"),
    "revealed_total": ("histogram entries", ".1f"),
    "spearman": ("Spearman", ".2f"),
    "kendall_tau_b": ("Kendall tau-b", ".2f"),
    "top1": ("top-1", ".2f"),
    "retrains": ("retrains", ".1f"),
    "valuation_s": ("valuation s", ".2f"),
    "wall_s": ("wall s", ".1f"),
}
PROTOCOL = {
    "minus_random": ("hard acc - random's", "+.3f"),
    "test_minus_control": ("test acc - control", "+.3f"),
    "regret_at_k": ("regret@k", ".3f"),
    "random_regret_at_k": ("random's regret@k", ".3f"),
    "precision_at_k": ("precision@k", ".2f"),
    "ndcg_at_k": ("NDCG@k", ".2f"),
    "precision_at_k_shapley": ("precision@k vs Shapley", ".2f"),
    "ndcg_at_k_shapley": ("NDCG@k vs Shapley", ".2f"),
    "harm_precision": ("harm precision", ".2f"),
    "harm_recall": ("harm recall", ".2f"),
    "kendall_honest": ("Kendall tau-b, honest owners", ".2f"),
}
METRICS = {**FIGURES, **PROTOCOL}

DEFINITIONS = {
    "hard accuracy": "accuracy on the held-out hard samples, which no owner ever saw",
    "control": "the trainer's own figures: the same retraining with no owner data (report.json's `trainer`)",
    "combined_hard_accuracy, combined_test_accuracy": "the model retrained on the subsets of the best-ranked "
    "owners (report.json's `combined`)",
    "gain_fraction": "the share of full information's gain reached, per seed: (combined hard acc - control hard acc) "
    "/ (full-information combined hard acc - control hard acc); null where full information "
    "gains nothing",
    "owners_hard_accuracy, owners_utility": "means over the owners valued of their hard accuracy and utility "
    "(hard accuracy - control)",
    "exposed_total, exposed_per_owner": "samples that left the owners (report.json's exposure.total_received), "
    "in total and per owner",
    "revealed_total": "entries of the cluster histograms the owners reported beside their samples (report.json's "
    "exposure.total_revealed; EcoVal's query asks for them, other strategies' none)",
    "spearman, kendall_tau_b, top1": "agreement of the strategy's owner ranking with full information's ranking "
    "of the same seed, both as the reports rank: by utility, owners flagged "
    "harmful last, equal utilities ordered by test accuracy; owners without a "
    "rank (failed, rejected) left out. Ranks, not raw utilities, because the "
    "ranking is what the trainer acts on: an owner that buys hard accuracy by "
    "breaking other classes ranks last",
    "mean, std, n, lo, hi": "mean and sample standard deviation over seeds (std null with one seed); n counts "
    "the seeds where the figure is defined; [lo, hi] is the 95% percentile bootstrap interval of the mean "
    f"over seeds ({RESAMPLES} resamples; null with one seed)",
    "retrains, valuation_s": "what valuing the owners cost the trainer (report.json's valuation): distinct "
    "retrainings of the model (each owner's data alone, the combined model, and under "
    "loo and shapley every coalition of owners their values need) and their seconds",
    "wall_s": "seconds of one strategy run on a fitted trainer, owners' selection included; fitting the trainer, "
    "shared by all runs of a seed, is timed apart (fit_s)",
    "minus_random": "combined hard acc minus random's at the same budget and seed (its interval: of the paired "
    "differences)",
    "test_minus_control": "combined test acc minus the control's: below 0, buying data broke the rest of the task",
    "misleading owners": "the owners built to mislead (settings.misleading): the scenario's owners with "
    f"label_noise >= {MISLEADING_LABEL_NOISE} or a cheating `behaviour`; owners with corrupted features "
    "keep their true labels and are not counted",
    "regret_at_k, random_regret_at_k": "acquisition regret@k: held-out hard-accuracy gain lost by buying the "
    "full-information subsets of the strategy's k best-ranked owners together instead of the best k "
    "owners that are not misleading (every coalition of k owners retrained once a seed on full "
    "information's subsets); negative where the strategy's k include a misleading owner that gains more. "
    "random_regret_at_k: the expected regret of k owners drawn at random (the best minus the mean over "
    "every coalition of k owners)",
    "precision_at_k, ndcg_at_k": "of the strategy's ranking against full information's of the same seed: "
    "share of its k best owners among full information's k best (ties by id), and NDCG@k with "
    "relevance = the reference's rank counted from the bottom",
    "precision_at_k_shapley, ndcg_at_k_shapley": "the same against Data Shapley's ranking (where `shapley` "
    "ran on that seed)",
    "harm_precision, harm_recall": "owners flagged harmful as a detector of the misleading owners: share of "
    "the flagged that mislead (null when none is flagged) and of the misleading that are flagged",
    "kendall_honest": "Kendall tau-b against full information's ranking over the owners that are not "
    "misleading; reference_agreement: the same between full information's rankings of every pair "
    "of seeds (its interval is over pairs, which share seeds)",
}


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


def misleading_owners(scenario: Scenario) -> list[str]:
    """The owners a scenario builds to mislead: label noise >= 0.5 or a cheating behaviour.

    Parameters
    ----------
    scenario
        The scenario whose owner specifications are read.

    Returns
    -------
    list[str]
        Their ids, in the scenario's order.
    """
    return [
        o.id
        for o in scenario.owners
        if o.label_noise >= MISLEADING_LABEL_NOISE or o.behaviour != "honest"
    ]


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation, count and 95% bootstrap interval of the mean of some values."""

    mean: float | None
    std: float | None
    n: int
    lo: float | None
    hi: float | None

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Stat:
        """The statistics of the defined values (None and nan left out).

        Parameters
        ----------
        values
            One value per seed (or per pair of seeds).

        Returns
        -------
        Stat
            With mean None when no value is defined, std, lo and hi None with fewer than two.
        """
        xs = np.array([float(v) for v in values if v is not None and not math.isnan(v)])
        if len(xs) < 2:
            mean = float(xs[0]) if len(xs) else None
            return cls(mean, None, len(xs), None, None)
        rng = np.random.default_rng(0)
        means = xs[rng.integers(0, len(xs), (RESAMPLES, len(xs)))].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        return cls(float(xs.mean()), float(xs.std(ddof=1)), len(xs), float(lo), float(hi))


@dataclass
class Run:
    """One strategy run's figures on one seed (`budget` None: not budgeted); `METRICS` says what each
    is, `owners` holds each owner's utility, rank, harm flag and samples received."""

    strategy: str
    selector: str
    valuer: str
    budget: int | None
    seed: int
    combined_hard_accuracy: float
    combined_test_accuracy: float
    gain_fraction: float | None
    test_minus_control: float
    owners_hard_accuracy: float | None
    owners_utility: float | None
    exposed_total: int
    exposed_per_owner: float
    revealed_total: int
    spearman: float
    kendall_tau_b: float
    top1: float
    kendall_honest: float
    precision_at_k: float
    ndcg_at_k: float
    regret_at_k: float | None
    random_regret_at_k: float | None
    harm_precision: float | None
    harm_recall: float | None
    retrains: int
    valuation_s: float
    wall_s: float
    combined_owners: list[str]
    owners: dict[str, dict]

    def scores(self, leave_out: Iterable[str] = ()) -> dict[str, float | None]:
        """Higher = better from the ranks (None for owners without a rank), `leave_out` left out."""
        skip = set(leave_out)
        return {
            o: None if v["rank"] is None else -float(v["rank"])
            for o, v in self.owners.items()
            if o not in skip
        }


@dataclass(frozen=True)
class Aggregate:
    """The statistics over seeds of every figure of one strategy at one budget."""

    strategy: str
    budget: int | None
    stats: dict[str, Stat]

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "budget": self.budget,
            **{k: asdict(v) for k, v in self.stats.items()},
        }


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
        from mycroft_fl.cli.plots import (
            plot_accuracy,
            plot_ranking,
        )  # matplotlib: only when writing

        plot_accuracy(self, out / "accuracy_vs_budget.png")
        for name in self.strategies:
            plot_ranking(self, name, out / f"ranking_{name}.png")
        return out / "compare.json"


def compare(
    scenario: Scenario,
    strategies: Iterable[str | StrategyConfig] = DEFAULT_STRATEGIES,
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    seeds: int = 3,
    *,
    k: int = TOP_K,
    progress: Progress | None = None,
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
        Shown each step.

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
                value_with(
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


def coalition_values(trainer: Trainer, reference: Report, k: int) -> dict[frozenset[str], float]:
    """The held-out hard-accuracy gain of every coalition of `k` (at most all) owners valued in
    `reference`, trained on their subsets in that run together.

    Parameters
    ----------
    trainer
        The fitted trainer of the reference's seed.
    reference
        Full information's report of that seed (its owners' screened subsets).
    k
        Owners per coalition.

    Returns
    -------
    dict[frozenset[str], float]
        Utility (hard accuracy minus the control's) per coalition.
    """
    ok = [o for o in reference.owners if o.status == "ok"]
    coalitions = Coalitions(trainer, ok)
    return {
        c: coalitions.utility(c)
        for c in map(frozenset, combinations(coalitions.players, min(k, len(ok))))
    }


def _steps(progress: Progress | None, total: int) -> Callable[[str], None]:
    """A callable that shows `label` as the step now running, out of `total` (then `done` at the end)."""
    done = 0

    def step(label: str) -> None:
        nonlocal done
        if progress:
            progress(f"compare: {label}", done, total)
        done += 1

    return step


def run_figures(
    report: Report,
    reference: Report,
    values: Mapping[frozenset[str], float],
    misleading: Sequence[str],
    *,
    k: int,
    budgeted: bool,
) -> Run:
    """One run's figures from its report and full information's of the same seed.

    Parameters
    ----------
    report, reference
        The run's report and full information's.
    values
        `coalition_values` of the seed.
    misleading
        The owners built to mislead (`misleading_owners`).
    k
        Owners bought in the figures at k.
    budgeted
        Whether the run's strategy is budgeted (else its budget is recorded as None).

    Returns
    -------
    Run
        Its figures.
    """
    owners = sorted(report.owners, key=lambda o: (o.rank is None, o.rank or 0, o.id))
    ok = [o for o in owners if o.status == "ok"]
    control, control_test = report.trainer["hard_accuracy"], report.trainer["test_accuracy"]
    full_gain = reference.combined["hard_accuracy"] - control
    gain = report.combined["hard_accuracy"] - control
    scores, ref_scores = _rank_scores(report), _rank_scores(reference)
    agreement = rank_quality(scores, ref_scores)
    honest = rank_quality(
        *({o: s for o, s in x.items() if o not in misleading} for x in (scores, ref_scores))
    )
    valued = {o.id for o in ok}
    eligible = valued - set(misleading)
    chosen = frozenset(top_k(scores, k))
    can_buy = values and chosen in values and len(eligible) >= len(chosen)
    harm_precision, harm_recall = detection(
        {o.id for o in ok if o.harmful}, set(misleading) & {o.id for o in owners}
    )
    received = sum(o.received for o in owners)
    return Run(
        strategy=report.strategy.name,
        selector=report.strategy.selector.name,
        valuer=report.strategy.valuer.name,
        budget=report.strategy.budget if budgeted else None,
        seed=report.seed,
        combined_hard_accuracy=report.combined["hard_accuracy"],
        combined_test_accuracy=report.combined["test_accuracy"],
        gain_fraction=gain / full_gain if full_gain > 0 else None,
        test_minus_control=report.combined["test_accuracy"] - control_test,
        owners_hard_accuracy=_mean(o.hard_accuracy for o in ok),
        owners_utility=_mean(o.utility for o in ok),
        exposed_total=received,
        exposed_per_owner=received / len(owners),
        revealed_total=sum(o.revealed for o in owners),
        **{key: agreement[key] for key in ("spearman", "kendall_tau_b", "top1")},
        kendall_honest=honest["kendall_tau_b"],
        precision_at_k=precision_at_k(scores, ref_scores, k),
        ndcg_at_k=ndcg_at_k(scores, ref_scores, k),
        regret_at_k=acquisition_regret(values, chosen, eligible) if can_buy else None,
        random_regret_at_k=random_regret(values, len(chosen), eligible) if can_buy else None,
        harm_precision=harm_precision,
        harm_recall=harm_recall,
        retrains=report.valuation["retrains"],
        valuation_s=round(report.valuation["seconds"], 3),
        wall_s=round(report.timings["total_s"], 3),
        combined_owners=list(report.combined["owners"]),
        owners={
            o.id: {
                "utility": o.utility,
                "rank": o.rank,
                "harmful": o.harmful,
                "received": o.received,
            }
            for o in owners
        },
    )


def _rank_scores(report: Report) -> dict[str, float | None]:
    """Higher = better from the report's ranks (None for owners without a rank)."""
    return {o.id: None if o.rank is None else -float(o.rank) for o in report.owners}


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


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
