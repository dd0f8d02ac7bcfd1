"""Dropout ensembles for gradient matching (selector option `ensemble`) on the shipped digits scenario:
what K = 1, 4, 8 masks at rate 0.5 (and 32, towards the limit; and 8 at rate 0.1) do to the stability
of the owners' picks, to the gain and the ranking, and what they cost. Writes the BENCHMARKS.md section
"## Dropout ensembles for gradient matching (digits)".

Per trainer seed (training, hard split and the masks' seed), in-process through `value_with`: full
information as the reference, then `mycroft` and `gradmatch` with each ensemble at each budget. Figures:

- picks' Jaccard overlap, per owner holding 8s or 9s: between every pair of trainer seeds (same owner
  data, another model and other hard samples), and between the query's seed and MASK_SEEDS - 1 other
  mask seeds on the same trainer (K = 1 has no masks: 1 by construction), and with K = 1's picks on
  the same trainer (how far the ensemble moves the selection);
- the combined model's held-out hard accuracy, its share of full information's gain, and the Spearman
  correlation of the ranking with full information's (`compare`'s `run_figures`);
- selection seconds per owner (`select_for_query`: the model's features, gradients, OMP), and, for
  the cost at scale, the seconds of one class's `dropout_factors` and `nonneg_ridge_omp` for a synthetic
  owner of SCALE = (n, d, C) with a budget of SCALE_BUDGET, for K in SCALE_ENSEMBLES.

    .venv/bin/python scripts/bench_ensemble.py [--seeds 10] [--section-only]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from benchmarks_md import write_section

from mycroft_fl.evaluation.protocol import misleading_owners, run_figures
from mycroft_fl.owner.answer import select_for_query
from mycroft_fl.owner.gradients import dropout_factors, last_layer_factors
from mycroft_fl.owner.omp import nonneg_ridge_omp
from mycroft_fl.owner.selectors import make_selector
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import value_with
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.valuers import Retrain

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "bench-ensemble.json"
SECTION = "## Dropout ensembles for gradient matching (digits)"
COMMAND = "nice .venv/bin/python scripts/bench_ensemble.py --seeds {seeds}"
METHODS, BUDGETS, MASK_SEEDS = ("mycroft", "gradmatch"), (6, 12), 4
#: (K, dropout rate): K = 1 is the plain selection (its rate unused)
ENSEMBLES = ((1, 0.5), (4, 0.5), (8, 0.5), (32, 0.5), (8, 0.1))
SCALE, SCALE_BUDGET, SCALE_ENSEMBLES = (20_000, 128, 10), 64, (1, 4, 8)


def jaccard(a: list[int], b: list[int]) -> float:
    """|a ∩ b| / |a ∪ b| of two index sets (1 when both are empty)."""
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b)) / union if union else 1.0


def measure(seeds: int) -> list[dict]:
    """One record per trainer seed, method, K and budget."""
    sc = load_scenario("digits")
    data, owners = sc.trainer_data(), sc.owners_data()
    misleading = misleading_owners(sc)
    records = []
    for seed in range(seeds):
        trainer = Trainer(data, sc.trainer, seed=seed)
        reference = value_with(trainer, owners, resolve_strategy("full-information"))
        for method, (k, rate), budget in itertools.product(METHODS, ENSEMBLES, BUDGETS):
            selector = make_selector(method, ensemble=k, dropout=rate)
            strategy = StrategyConfig(f"{method}-K{k}", selector, Retrain(), budget=budget)
            report = value_with(trainer, owners, strategy, scenario="digits")
            figures = run_figures(report, reference, {}, misleading, k=3, budgeted=True)
            query = trainer.query(strategy)
            picks, others, seconds = {}, {}, []
            for owner, owner_data in owners.items():
                start = time.perf_counter()
                picks[owner] = select_for_query(query, owner_data).tolist()
                seconds.append(time.perf_counter() - start)
                others[owner] = [
                    select_for_query(replace(query, seed=1000 + m), owner_data).tolist()
                    for m in range(1, MASK_SEEDS)
                ]
            records.append(
                {
                    "seed": seed,
                    "method": method,
                    "ensemble": k,
                    "dropout": rate,
                    "budget": budget,
                    "hard_accuracy": figures.combined_hard_accuracy,
                    "gain_fraction": figures.gain_fraction,
                    "spearman": figures.spearman,
                    "seconds": float(np.mean(seconds)),
                    "picks": picks,
                    "mask_picks": others,
                }
            )
            print(
                f"seed {seed} {method} K={k} rate {rate} budget {budget}: hard {figures.combined_hard_accuracy:.3f} "
                f"spearman {figures.spearman:.2f} {np.mean(seconds) * 1000:.0f} ms/owner",
                flush=True,
            )
    return records


def _mean(values: list[float]) -> str:
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values:
        return "-"
    se = np.std(values, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.2f} ± {se:.2f}"


def scale_cost() -> list[dict]:
    """Seconds of one class's selection for a synthetic owner of SCALE: the factors (`dropout_factors`
    or `last_layer_factors`) and `nonneg_ridge_omp`, per K at rate 0.5."""
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


def section(records: list[dict], seeds: int, cost: list[dict]) -> str:
    """The BENCHMARKS.md section: one row per selector, budget and ensemble, what K = 8 changes against
    K = 1, and the cost at scale."""
    rows, reading = [], []
    for method, budget in itertools.product(METHODS, BUDGETS):
        figures = {(k, rate): _figures(records, method, budget, k, rate) for k, rate in ENSEMBLES}
        for (k, rate), f in figures.items():
            rows.append(
                f"| `{method}` | {budget} | {k} | {'-' if k == 1 else rate} | {f['masks']:.2f} | "
                f"{f['across']:.2f} | {f['plain']:.2f} | {_mean(f['hard'])} | {_mean(f['gain'])} | "
                f"{_mean(f['spearman'])} | {f['ms']:.0f} |"
            )
        one, eight = figures[ENSEMBLES[0]], figures[(8, 0.5)]
        reading.append(
            f"- `{method}`, budget {budget}, K = 8 against K = 1: picks' overlap between trainer seeds "
            f"{one['across']:.2f} → {eight['across']:.2f}; hard accuracy {np.mean(one['hard']):.3f} → "
            f"{np.mean(eight['hard']):.3f} (paired difference {_mean(np.subtract(eight['hard'], one['hard']))}); "
            f"Spearman {np.mean(one['spearman']):.2f} → {np.mean(eight['spearman']):.2f}; "
            f"selection {eight['ms'] / one['ms']:.1f}× as long."
        )
    n, d, n_classes = SCALE
    plain = cost[0]["factors_s"] + cost[0]["omp_s"]
    costs = [
        f"K = {c['ensemble']}: {c['factors_s']:.2f} s factors + {c['omp_s']:.2f} s OMP "
        f"({(c['factors_s'] + c['omp_s']) / plain:.1f}×)"
        for c in cost
    ]
    return "\n".join(
        [
            SECTION,
            "",
            f"`{COMMAND.format(seeds=seeds)}` (`scripts/bench_ensemble.py`): the shipped `digits` "
            f"scenario in-process, trainer seeds 0..{seeds - 1}; each owner's and each hard sample's "
            "last-layer gradient averaged over K dropout masks of the penultimate features (selector "
            "option `ensemble`, rate `dropout`; K = 1 is the plain selection). "
            "Jaccard: overlap of an owner's picks (the four owners holding 8s or 9s), between "
            f"the query's mask seed and {MASK_SEEDS - 1} others on the same trainer (K = 1: no masks, 1 "
            "by construction), between every pair of trainer seeds (another model and other hard "
            "samples; the owners' data stay), and with K = 1's picks on the same trainer. "
            "Hard accuracy: the combined model on held-out hard samples; "
            "gain share: of full information's gain; Spearman: the ranking against full information's "
            "(mean ± standard error over seeds). ms: median selection time per owner.",
            "",
            "| selector | budget | K | rate | Jaccard, mask seeds | Jaccard, trainer seeds | "
            "Jaccard with K = 1 | hard acc | gain share | Spearman | ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *reading,
            "",
            "What it does: the models here have no dropout, so every mask feeds the head features it was "
            "never trained on; the average over masks is another model's gradient, and the picks move "
            "away from K = 1's about as far as between two mask seeds, whose overlap grows only slowly "
            "with K. It does not make the picks steadier between trainer seeds (they differ by the model "
            "and the hard samples, which masks of one model do not average out); the combined model's "
            "gain stays within its standard error, and the ranking's Spearman is unchanged at budget 12 "
            "and a little lower at budget 6. At rate 0.1 the picks stay near "
            "K = 1's. On digits it is not worth its cost; the option is off by default (K = 1).",
            "",
            f"Cost at scale: one class of a synthetic owner, n = {n:,} candidates, d = {d}, C = {n_classes}, "
            f"budget {SCALE_BUDGET}, rate 0.5, one thread: "
            + "; ".join(costs)
            + ". Gᵀb costs K times "
            "the plain selection, each Gram column K² times; memory is O(n·(K·C + d)).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--section-only", action="store_true", help="rebuild the section from the saved runs"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.section_only:
        saved = json.loads(OUT.read_text())
        records, seeds, cost = saved["records"], saved["seeds"], saved["cost"]
    else:
        records, seeds, cost = measure(args.seeds), args.seeds, scale_cost()
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps({"seeds": seeds, "records": records, "cost": cost}))
    text = section(records, seeds, cost)
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
