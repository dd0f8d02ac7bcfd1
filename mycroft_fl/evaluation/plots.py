"""A comparison's plots: accuracy against budget, and each owner's utility against full information's.

They take a comparison's plain figures (aggregates, runs), so this module needs nothing of
`comparison.py`, which calls them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mycroft_fl.evaluation.protocol import REFERENCE, Run
from mycroft_fl.evaluation.stats import Aggregate, Stat


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(
    aggregates: Sequence[Aggregate],
    strategies: Sequence[str],
    control: Stat,
    budgets: Sequence[int],
    title: str,
    path: Path,
) -> None:
    """Combined hard accuracy against budget: a line per strategy with its spread over seeds, and the
    full-information and control levels.

    Parameters
    ----------
    aggregates
        The statistics over seeds per strategy and budget, the reference's included.
    strategies
        The strategies to draw, in their colour order (the reference is drawn apart).
    control
        The control's hard accuracy over seeds.
    budgets
        The budgets compared: the x axis's ticks.
    title
        The plot's title.
    path
        The PNG to write.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, name in enumerate(strategies):
        points = [a for a in aggregates if a.strategy == name]
        color = f"C{i % 10}"  # one colour per strategy, levels included
        if points[0].budget is None:  # unbudgeted: one level
            ax.axhline(
                points[0].stats["combined_hard_accuracy"].mean,
                color=color,
                ls="-.",
                lw=1.2,
                label=f"{name} (unbudgeted)",
            )
            continue
        x = np.array([a.budget for a in points])
        mean, std = (
            np.array([_nz(getattr(a.stats["combined_hard_accuracy"], k)) for a in points])
            for k in ("mean", "std")
        )
        (line,) = ax.plot(x, mean, marker="o", color=color, label=name)
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ref = next(a for a in aggregates if a.strategy == REFERENCE).stats["combined_hard_accuracy"]
    ax.axhline(ref.mean, color="black", ls="--", label=REFERENCE)
    ax.axhspan(ref.mean - _nz(ref.std), ref.mean + _nz(ref.std), color="black", alpha=0.08)
    ax.axhline(control.mean, color="grey", ls=":", label="control (no owner data)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_xlabel("budget: samples each owner may share")
    ax.set_ylabel("combined model: held-out hard accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_ranking(runs: Sequence[Run], name: str, scenario: str, path: Path) -> None:
    """Each owner's utility under `name` at its largest budget against under full information, mean
    ± sd over seeds; red: flagged harmful under `name` in some seed, *: under full information.

    Parameters
    ----------
    runs
        Every run of a comparison in its order (budgets ascending), the reference's included.
    name
        The strategy to draw.
    scenario
        The scenario's name, for the title.
    path
        The PNG to write.
    """
    plt = _pyplot()
    refs = [r for r in runs if r.strategy == REFERENCE]
    runs = [r for r in runs if r.strategy == name]
    budget = runs[-1].budget
    runs = [r for r in runs if r.budget == budget]
    fig, ax = plt.subplots(figsize=(6, 6))
    for owner in runs[0].owners:
        ys, xs = (Stat.of(r.owners[owner]["utility"] for r in rs) for rs in (runs, refs))
        if ys.mean is None or xs.mean is None:
            continue
        harmful = any(r.owners[owner]["harmful"] for r in runs)
        ax.errorbar(
            xs.mean,
            ys.mean,
            xerr=_nz(xs.std),
            yerr=_nz(ys.std),
            fmt="o",
            color="tab:red" if harmful else "tab:blue",
            capsize=2,
        )
        if len(runs[0].owners) <= 30:
            star = "*" if any(r.owners[owner]["harmful"] for r in refs) else ""
            ax.annotate(
                owner + star,
                (xs.mean, ys.mean),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
    ax.axline((0, 0), slope=1, color="grey", lw=0.8, ls="--")
    rho = Stat.of(r.spearman for r in runs).mean
    ax.set_title(
        f"{scenario}: {name}"
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
