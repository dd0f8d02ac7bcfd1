"""Dropout ensembles for gradient matching (selector option `ensemble`) on the shipped digits scenario:
what K = 1, 4, 8 masks at rate 0.5 (and 32, towards the limit; and 8 at rate 0.1) do to the stability
of the owners' picks, to the gain and the ranking, and what they cost.

`compare` runs `mycroft` and `gradmatch` with each ensemble (one strategy each, named by its selector,
K and rate) at budgets 6 and 12 on the same fitted trainers (trainer seeds: the training, the hard split
and the masks' seed), full information as the reference; its figures give the combined model's held-out
hard accuracy, its share of full information's gain and the ranking's Spearman against full
information's. The driver keeps each owner's picks for the query (`select_for_query`, timed: the
model's features, gradients, OMP) and for MASK_SEEDS - 1 other mask seeds of the same query. Figures:
picks' Jaccard overlap per owner holding 8s or 9s, between every pair of trainer seeds, between mask
seeds on one trainer (K = 1 has no masks: 1 by construction), and with K = 1's picks on the same
trainer; and, for the cost at scale, the seconds of one class's `dropout_factors` and
`nonneg_ridge_omp` for a synthetic owner of SCALE = (n, d, C) with a budget of SCALE_BUDGET, for K in
SCALE_ENSEMBLES. `--quick`: 2 seeds.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from benchmarks.drivers import Acquire
from benchmarks.md import Reading, paragraphs, provenance, table

TITLE = "## Dropout ensembles for gradient matching (digits)"
SEEDS = 10
METHODS, BUDGETS, MASK_SEEDS = ("mycroft", "gradmatch"), (6, 12), 4
#: (K, dropout rate): K = 1 is the plain selection (its rate unused)
ENSEMBLES = ((1, 0.5), (4, 0.5), (8, 0.5), (32, 0.5), (8, 0.1))
SCALE, SCALE_BUDGET, SCALE_ENSEMBLES = (20_000, 128, 10), 64, (1, 4, 8)


def jaccard(a: list[int], b: list[int]) -> float:
    """|a ∩ b| / |a ∪ b| of two index sets (1 when both are empty)."""
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b)) / union if union else 1.0


def name_of(method: str, k: int, rate: float) -> str:
    return f"{method} K={k} rate {rate}"


def _record(trainer, owners, config, report) -> dict:
    """Each owner's picks for the run's query, with their seconds, and for other mask seeds."""
    from mycroft_fl.owner.answer import select_for_query
    from mycroft_fl.trainer.acquisition import strategy_query

    if not config.budgeted:
        return {}
    query = strategy_query(trainer, config)
    picks, others, seconds = {}, {}, []
    for owner, data in owners.items():
        start = time.perf_counter()
        picks[owner] = select_for_query(query, data).tolist()
        seconds.append(time.perf_counter() - start)
        others[owner] = [
            select_for_query(replace(query, seed=1000 + m), data).tolist()
            for m in range(1, MASK_SEEDS)
        ]
    return {"seconds": float(np.mean(seconds)), "picks": picks, "mask_picks": others}


def scale_cost() -> list[dict]:
    """Seconds of one class's selection for a synthetic owner of SCALE: the factors (`dropout_factors`
    or `last_layer_factors`) and `nonneg_ridge_omp`, per K at rate 0.5."""
    from mycroft_fl.owner.gradients import dropout_factors, last_layer_factors
    from mycroft_fl.owner.omp import nonneg_ridge_omp

    n, d, n_classes = SCALE
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(n_classes, d)) / np.sqrt(d), rng.normal(size=n_classes)
    h = np.maximum(rng.normal(size=(n, d)), 0).astype(np.float32)
    y = np.zeros(n, dtype=np.int64)
    out = []
    for k in SCALE_ENSEMBLES:
        start = time.perf_counter()
        grads = (
            last_layer_factors(h, h @ weight.T + bias, y)
            if k == 1
            else dropout_factors(h, weight, bias, y, ensemble=k, rate=0.5, seed=0)
        )
        factors = time.perf_counter() - start
        nonneg_ridge_omp(grads, grads[:32].total(), SCALE_BUDGET)
        out.append(
            {"ensemble": k, "factors_s": factors, "omp_s": time.perf_counter() - start - factors}
        )
    return out


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.owner.selectors import make_selector
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.strategy_config import StrategyConfig
    from mycroft_fl.trainer.valuers import Retrain

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    strategies = [
        StrategyConfig(
            name_of(method, k, rate), make_selector(method, ensemble=k, dropout=rate), Retrain()
        )
        for method, (k, rate) in itertools.product(METHODS, ENSEMBLES)
    ]
    driver = Acquire(record=_record)
    result = compare(load_scenario("digits"), strategies, list(BUDGETS), seeds, driver=driver)
    runs = {(r.strategy, r.budget, r.seed): r for r in result.runs}
    records = []
    for method, (k, rate), budget in itertools.product(METHODS, ENSEMBLES, BUDGETS):
        for seed in result.settings["seeds"]:
            name = name_of(method, k, rate)
            run = runs[(name, budget, seed)]
            records.append(
                {
                    "seed": seed,
                    "method": method,
                    "ensemble": k,
                    "dropout": rate,
                    "budget": budget,
                    "hard_accuracy": run.combined_hard_accuracy,
                    "gain_fraction": run.gain_fraction,
                    "spearman": run.spearman,
                    **driver.records[(name, budget, seed)],
                }
            )
    yield "digits", {"seeds": seeds, "records": records, "cost": scale_cost()}


# ------------------------------------------------------------------------------------------ section


def _mean(values: list[float]) -> str:
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values:
        return "-"
    se = np.std(values, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.2f} ± {se:.2f}"


def _rows(records: list[dict], method: str, budget: int, k: int, rate: float) -> list[dict]:
    key = (method, budget, k, rate)
    return [r for r in records if (r["method"], r["budget"], r["ensemble"], r["dropout"]) == key]


def _figures(records: list[dict], method: str, budget: int, k: int, rate: float) -> dict:
    """The section's figures of one selector, budget and ensemble."""
    runs = _rows(records, method, budget, k, rate)
    plain = {r["seed"]: r for r in _rows(records, method, budget, *ENSEMBLES[0])}
    owners = [o for o in runs[0]["picks"] if o != "unrelated"]
    return {
        "masks": np.mean(
            [jaccard(r["picks"][o], m) for r in runs for o in owners for m in r["mask_picks"][o]]
        ),
        "across": np.mean(
            [
                jaccard(a["picks"][o], b["picks"][o])
                for a, b in itertools.combinations(runs, 2)
                for o in owners
            ]
        ),
        "plain": np.mean(
            [jaccard(r["picks"][o], plain[r["seed"]]["picks"][o]) for r in runs for o in owners]
        ),
        "hard": [r["hard_accuracy"] for r in runs],
        "gain": [r["gain_fraction"] for r in runs],
        "spearman": [r["spearman"] for r in runs],
        "ms": np.median([r["seconds"] for r in runs]) * 1000,
    }


def section(entries: list[dict], reading: Reading) -> str:
    entry = entries[0]
    records, seeds, cost = entry["data"]["records"], entry["data"]["seeds"], entry["data"]["cost"]
    rows, changes = [], []
    for method, budget in itertools.product(METHODS, BUDGETS):
        figures = {(k, rate): _figures(records, method, budget, k, rate) for k, rate in ENSEMBLES}
        for (k, rate), f in figures.items():
            rows.append(
                [
                    f"`{method}`",
                    budget,
                    k,
                    "-" if k == 1 else rate,
                    f"{f['masks']:.2f}",
                    f"{f['across']:.2f}",
                    f"{f['plain']:.2f}",
                    _mean(f["hard"]),
                    _mean(f["gain"]),
                    _mean(f["spearman"]),
                    f"{f['ms']:.0f}",
                ]
            )
        one, eight = figures[ENSEMBLES[0]], figures[(8, 0.5)]
        changes.append(
            f"- `{method}`, budget {budget}, K = 8 against K = 1: picks' overlap between trainer seeds "
            f"{one['across']:.2f} → {eight['across']:.2f}; hard accuracy {np.mean(one['hard']):.3f} → "
            f"{np.mean(eight['hard']):.3f} (paired difference "
            f"{_mean(np.subtract(eight['hard'], one['hard']))}); Spearman "
            f"{np.mean(one['spearman']):.2f} → {np.mean(eight['spearman']):.2f}; selection "
            f"{eight['ms'] / one['ms']:.1f}× as long."
        )
    n, d, n_classes = SCALE
    plain = cost[0]["factors_s"] + cost[0]["omp_s"]
    costs = [
        f"K = {c['ensemble']}: {c['factors_s']:.2f} s factors + {c['omp_s']:.2f} s OMP "
        f"({(c['factors_s'] + c['omp_s']) / plain:.1f}×)"
        for c in cost
    ]
    return paragraphs(
        TITLE,
        f"`python -m benchmarks run ensemble --seeds {seeds}`: the shipped `digits` scenario through "
        f"`compare`, trainer seeds 0..{seeds - 1}; each owner's and each hard sample's last-layer "
        "gradient averaged over K dropout masks of the penultimate features (selector option "
        "`ensemble`, rate `dropout`; K = 1 is the plain selection). Jaccard: overlap of an owner's "
        f"picks (the four owners holding 8s or 9s), between the query's mask seed and {MASK_SEEDS - 1} "
        "others on the same trainer (K = 1: no masks, 1 by construction), between every pair of "
        "trainer seeds (another model and other hard samples; the owners' data stay), and with K = 1's "
        "picks on the same trainer. Hard accuracy: the combined model on held-out hard samples; gain "
        "share: of full information's gain; Spearman: the ranking against full information's (mean ± "
        "standard error over seeds). ms: median selection time per owner.",
        table(
            (
                "selector",
                "budget",
                "K",
                "rate",
                "Jaccard, mask seeds",
                "Jaccard, trainer seeds",
                "Jaccard with K = 1",
                "hard acc",
                "gain share",
                "Spearman",
                "ms",
            ),
            "l" + "r" * 10,
            rows,
        ),
        changes,
        reading.text,
        f"Cost at scale: one class of a synthetic owner, n = {n:,} candidates, d = {d}, C = "
        f"{n_classes}, budget {SCALE_BUDGET}, rate 0.5, one thread: "
        + "; ".join(costs)
        + ". Gᵀb costs K times the plain selection, each Gram column K² times; memory is "
        "O(n·(K·C + d)).",
        provenance(entry),
    )
