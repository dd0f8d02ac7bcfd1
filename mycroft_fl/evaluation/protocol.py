"""The evaluation protocol's per-run figures: one strategy run measured against full information's run of
the same seed on the same fitted trainer.

Its gain over the control and share of full information's gain, rank agreement with full information,
acquisition regret@k on full information's subsets, precision@k and NDCG@k, and harm detection against the
owners built to mislead; `METRICS` names every figure and `DEFINITIONS` says what each is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from mycroft_fl.evaluation.stats import RESAMPLES
from mycroft_fl.scenarios.spec import Scenario
from mycroft_fl.trainer.coalitions import Coalitions
from mycroft_fl.trainer.ranking import (
    acquisition_regret,
    detection,
    ndcg_at_k,
    precision_at_k,
    random_regret,
    rank_quality,
    top_k,
)
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.trainer import Trainer

REFERENCE = "full-information"
SHAPLEY = "shapley"
RANDOM = "random"
TOP_K = 3
MISLEADING_LABEL_NOISE = 0.5

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
