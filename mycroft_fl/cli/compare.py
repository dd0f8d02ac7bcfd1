"""`mycroft-fl compare`: several strategies, budgets and seeds on one scenario, measured against full information.

Every run goes through `api.value_with`, the engine behind `simulate`, in-process. Each seed fits one
`Trainer` that every strategy and budget of that seed shares, so the runs of a seed differ only in what
the owners send. `full-information` is always run once per seed as the reference; the other unbudgeted
strategies (the data-valuation baselines `loo` and `shapley`, on the owners' full data) once per seed too.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.progress import Progress
from mycroft_fl.scenarios.spec import Scenario
from mycroft_fl.trainer.in_process import value_with
from mycroft_fl.trainer.ranking import rank_quality
from mycroft_fl.trainer.report import clean_json
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer

REFERENCE = "full-information"
DEFAULT_STRATEGIES = ("mycroft", "gradmatch", "retrieval", "random")
DEFAULT_BUDGETS = (8, 16, 32)

# Per-run figures: key -> (column heading, format).
METRICS = {
    "combined_hard_accuracy": ("combined hard acc", ".3f"),
    "combined_test_accuracy": ("combined test acc", ".3f"),
    "gain_fraction": ("share of full-info gain", ".0%"),
    "owners_hard_accuracy": ("owners' hard acc", ".3f"),
    "owners_utility": ("owners' utility", "+.3f"),
    "exposed_total": ("samples sent", ".1f"),
    "exposed_per_owner": ("sent per owner", ".1f"),
    "spearman": ("Spearman", ".2f"),
    "kendall_tau_b": ("Kendall tau-b", ".2f"),
    "top1": ("top-1", ".2f"),
    "retrains": ("retrains", ".1f"),
    "valuation_s": ("valuation s", ".2f"),
    "wall_s": ("wall s", ".1f"),
}

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
    "spearman, kendall_tau_b, top1": "agreement of the strategy's owner ranking with full information's ranking "
    "of the same seed, both as the reports rank: by utility, owners flagged "
    "harmful last, equal utilities ordered by test accuracy; owners without a "
    "rank (failed, rejected) left out. Ranks, not raw utilities, because the "
    "ranking is what the trainer acts on: an owner that buys hard accuracy by "
    "breaking other classes ranks last",
    "mean, std, n": "mean and sample standard deviation over seeds (std null with one seed); n counts the seeds "
    "where the figure is defined",
    "retrains, valuation_s": "what valuing the owners cost the trainer (report.json's valuation): distinct "
    "retrainings of the model (each owner's data alone, the combined model, and under "
    "loo and shapley every coalition of owners their values need) and their seconds",
    "wall_s": "seconds of one strategy run on a fitted trainer, owners' selection included; fitting the trainer, "
    "shared by all runs of a seed, is timed apart (fit_s)",
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


@dataclass
class Comparison:
    """Every run's figures (`runs`), per-seed trainer facts (`trainers`), and the settings."""

    scenario: str
    settings: dict
    trainers: list[dict]
    runs: list[dict]
    total_s: float

    @property
    def strategies(self) -> list[str]:
        return self.settings["strategies"]

    def aggregates(self) -> list[dict]:
        """Mean, spread and n over seeds of every figure, per strategy and budget; the reference first."""
        groups: dict[tuple, list[dict]] = {}
        for run in self.runs:
            groups.setdefault((run["strategy"], run["budget"]), []).append(run)
        return [
            {"strategy": s, "budget": b, **{k: stat(r[k] for r in runs) for k in METRICS}}
            for (s, b), runs in groups.items()
        ]

    def control(self) -> dict:
        return {k: stat(t[k] for t in self.trainers) for k in ("hard_accuracy", "test_accuracy")}

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
        runs = self.runs + [r for r in other.runs if r["strategy"] != REFERENCE]
        return Comparison(
            self.scenario, settings, self.trainers, runs, self.total_s + other.total_s
        )

    def to_dict(self) -> dict:
        return clean_json(
            {
                "scenario": self.scenario,
                "settings": self.settings,
                "definitions": DEFINITIONS,
                "control": self.control(),
                "aggregates": self.aggregates(),
                "trainers": self.trainers,
                "runs": self.runs,
                "timings": {"total_s": round(self.total_s, 3)},
            }
        )

    def rows(self) -> list[list[str]]:
        """The side-by-side table: a heading, the control, then one row per strategy and budget."""
        rows = [["strategy", "budget", *(label for label, _ in METRICS.values())]]
        control = self.control()
        rows.append(
            [
                "control (no owner data)",
                "0",
                _cell(control["hard_accuracy"], ".3f"),
                _cell(control["test_accuracy"], ".3f"),
                *[""] * (len(METRICS) - 2),
            ]
        )
        for agg in self.aggregates():
            rows.append(
                [
                    agg["strategy"],
                    "all" if agg["budget"] is None else str(agg["budget"]),
                    *(_cell(agg[k], fmt) for k, (_, fmt) in METRICS.items()),
                ]
            )
        return rows

    def table(self) -> str:
        """The table as aligned plain text."""
        rows = self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
            for r in rows
        )

    def markdown(self, command: str) -> str:
        rows = self.rows()
        table = [f"| {' | '.join(rows[0])} |", "|" + "---|" * 2 + "---:|" * len(METRICS)]
        table += [f"| {' | '.join(r)} |" for r in rows[1:]]
        s = self.settings
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
                f"reference; seeds {', '.join(map(str, s['seeds']))}. Cells are mean ± standard deviation over seeds. "
                f"Budget `all`: not budgeted (`{REFERENCE}`: every owner sample of the hard classes; the "
                f"data-valuation baselines `loo` and `shapley`: every owner sample). "
                f"Total wall time {self.total_s:.0f} s.",
                "",
                *table,
                "",
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
    progress: Progress | None = None,
) -> Comparison:
    """Run every strategy at every budget (unbudgeted ones once) and the reference, for `seeds` seeds
    counted from the scenario's own."""
    start = time.perf_counter()
    configs = resolve_strategies(strategies)
    budgets = check_budgets(budgets)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise InputError(f"seeds must be an integer >= 1, got {seeds!r}")
    seed_list = [scenario.seed + i for i in range(seeds)]
    trainer_data, owners = scenario.trainer_data(), scenario.owners_data()
    plan = [
        resolve_strategy(REFERENCE),
        *(resolve_strategy(c, b) for c in configs if c.budgeted for b in budgets),
        *(c for c in configs if not c.budgeted),
    ]
    step = _steps(progress, (1 + len(plan)) * seeds)
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
                ).to_dict()
            )
        runs += [run_figures(r, reports[0], budgeted=c.budgeted) for c, r in zip(plan, reports)]
    step("done")
    settings = {
        "scenario_file": str(scenario.path),
        "owners": len(owners),
        "strategies": [c.name for c in configs],
        "budgets": budgets,
        "seeds": seed_list,
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


def run_figures(report: dict, reference: dict, *, budgeted: bool) -> dict:
    """One run's figures from its report.json and full information's of the same seed."""
    ok = [o for o in report["owners"] if o["status"] == "ok"]
    control = report["trainer"]["hard_accuracy"]
    full_gain = reference["combined"]["hard_accuracy"] - control
    gain = report["combined"]["hard_accuracy"] - control
    agreement = rank_quality(_rank_scores(report), _rank_scores(reference))
    return {
        "strategy": report["strategy"],
        "selector": report["selector"],
        "valuer": report["valuer"],
        "budget": report["budget"] if budgeted else None,
        "seed": report["seed"],
        "combined_hard_accuracy": report["combined"]["hard_accuracy"],
        "combined_test_accuracy": report["combined"]["test_accuracy"],
        "gain_fraction": gain / full_gain if full_gain > 0 else None,
        "owners_hard_accuracy": _mean(o["hard_accuracy"] for o in ok),
        "owners_utility": _mean(o["utility"] for o in ok),
        "exposed_total": report["exposure"]["total_received"],
        "exposed_per_owner": report["exposure"]["total_received"] / len(report["owners"]),
        **{k: agreement[k] for k in ("spearman", "kendall_tau_b", "top1")},
        "retrains": report["valuation"]["retrains"],
        "valuation_s": report["valuation"]["seconds"],
        "wall_s": report["timings"]["total_s"],
        "combined_owners": report["combined"]["owners"],
        "owners": {
            o["id"]: {
                "utility": o.get("utility"),
                "rank": o["rank"],
                "harmful": o.get("harmful", False),
                "received": o["received"],
            }
            for o in report["owners"]
        },
    }


def _rank_scores(report: dict) -> dict[str, float | None]:
    """Higher = better from the report's ranks (None for owners without a rank)."""
    return {o["id"]: None if o["rank"] is None else -float(o["rank"]) for o in report["owners"]}


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def stat(values: Iterable[float | None]) -> dict:
    """Mean, sample standard deviation and count of the defined values (None and nan left out)."""
    xs = [float(v) for v in values if v is not None and not math.isnan(v)]
    return {
        "mean": float(np.mean(xs)) if xs else None,
        "std": float(np.std(xs, ddof=1)) if len(xs) > 1 else None,
        "n": len(xs),
    }


def _cell(s: Mapping, fmt: str) -> str:
    if s["mean"] is None:
        return "-"
    return format(s["mean"], fmt) + (
        "" if s["std"] is None else f" ± {format(s['std'], fmt.lstrip('+'))}"
    )


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(comparison: Comparison, path: Path) -> None:
    """Combined hard accuracy against budget: a line per strategy with its spread over seeds, and the
    full-information and control levels."""
    plt = _pyplot()
    aggs = comparison.aggregates()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, name in enumerate(comparison.strategies):
        points = [a for a in aggs if a["strategy"] == name]
        color = f"C{i % 10}"  # one colour per strategy, levels included
        if points[0]["budget"] is None:  # unbudgeted: one level
            ax.axhline(
                points[0]["combined_hard_accuracy"]["mean"],
                color=color,
                ls="-.",
                lw=1.2,
                label=f"{name} (unbudgeted)",
            )
            continue
        x = np.array([a["budget"] for a in points])
        mean, std = (
            np.array([_nz(a["combined_hard_accuracy"][k]) for a in points]) for k in ("mean", "std")
        )
        (line,) = ax.plot(x, mean, marker="o", color=color, label=name)
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ref = next(a for a in aggs if a["strategy"] == REFERENCE)["combined_hard_accuracy"]
    ax.axhline(ref["mean"], color="black", ls="--", label=REFERENCE)
    ax.axhspan(
        ref["mean"] - _nz(ref["std"]), ref["mean"] + _nz(ref["std"]), color="black", alpha=0.08
    )
    ax.axhline(
        comparison.control()["hard_accuracy"]["mean"],
        color="grey",
        ls=":",
        label="control (no owner data)",
    )
    budgets = comparison.settings["budgets"]
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_xlabel("budget: samples each owner may share")
    ax.set_ylabel("combined model: held-out hard accuracy")
    ax.set_title(f"{comparison.scenario}: mean ± sd over {len(comparison.settings['seeds'])} seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_ranking(comparison: Comparison, name: str, path: Path) -> None:
    """Each owner's utility under `name` at its largest budget against under full information, mean
    ± sd over seeds; red: flagged harmful under `name` in some seed, *: under full information."""
    plt = _pyplot()
    runs = [r for r in comparison.runs if r["strategy"] == name]
    budget = runs[-1]["budget"]
    runs = [r for r in runs if r["budget"] == budget]
    refs = [r for r in comparison.runs if r["strategy"] == REFERENCE]
    fig, ax = plt.subplots(figsize=(6, 6))
    for owner in runs[0]["owners"]:
        ys, xs = (stat(r["owners"][owner]["utility"] for r in rs) for rs in (runs, refs))
        if ys["mean"] is None or xs["mean"] is None:
            continue
        harmful = any(r["owners"][owner]["harmful"] for r in runs)
        ax.errorbar(
            xs["mean"],
            ys["mean"],
            xerr=_nz(xs["std"]),
            yerr=_nz(ys["std"]),
            fmt="o",
            color="tab:red" if harmful else "tab:blue",
            capsize=2,
        )
        if len(runs[0]["owners"]) <= 30:
            star = "*" if any(r["owners"][owner]["harmful"] for r in refs) else ""
            ax.annotate(
                owner + star,
                (xs["mean"], ys["mean"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
    ax.axline((0, 0), slope=1, color="grey", lw=0.8, ls="--")
    rho = stat(r["spearman"] for r in runs)["mean"]
    ax.set_title(
        f"{comparison.scenario}: {name}"
        + (f" at budget {budget}" if budget else "")
        + (f", Spearman {rho:.2f}" if rho is not None else "")
    )
    ax.set_xlabel(f"utility under {REFERENCE}   (* flagged harmful there)")
    ax.set_ylabel(f"utility under {name}   (red: flagged harmful)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _nz(value: float | None) -> float:
    return 0.0 if value is None else value
