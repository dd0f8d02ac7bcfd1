"""Monte Carlo Shapley: how often its reported standard error covers the exact value, on a real game.

The game is benchmarks/data/digits-10.toml (ten digits owners, every one sending all its data): v(S) is
the held-out hard-accuracy gain of fine-tuning with the owners of S. All 1,023 coalitions are trained
once per trainer seed (`--seeds`; exact Shapley is the reference); truncated Monte Carlo then runs on
the memoised game `--mc-seeds` times with seeds of its own, at no further training cost, with the
`shapley` valuer's defaults and without truncation. `--quick`: 1 trainer seed, 3 Monte Carlo seeds.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.md import Reading, paragraphs, provenance, table

TITLE = "## Monte Carlo Shapley: standard errors and convergence"
SEEDS = 3
SCENARIO = Path(__file__).resolve().parent / "data" / "digits-10.toml"
#: Monte Carlo runs with the valuer's truncation (None) and without truncation (0.0), for comparison.
TRUNCATIONS = (None, 0.0)


def add_options(parser) -> None:
    parser.add_argument(
        "--mc-seeds", type=int, default=30, help="Monte Carlo runs per trainer seed"
    )


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.coalitions import Coalitions
    from mycroft_fl.trainer.games import Game, exact_shapley, tmc_shapley
    from mycroft_fl.trainer.results import OwnerResult
    from mycroft_fl.trainer.trainer import Trainer
    from mycroft_fl.trainer.valuers import Shapley

    torch.set_num_threads(1)
    seeds, mc_seeds = (1, 3) if options.quick else (options.seeds, options.mc_seeds)
    scenario = load_scenario(SCENARIO)
    owners = scenario.owners_data()
    defaults = Shapley()
    estimates, exact_rows = [], []
    for tseed in range(seeds):
        t0 = time.perf_counter()
        trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=tseed)
        coalitions = Coalitions(trainer, [OwnerResult(k, subset=d) for k, d in owners.items()])
        game = Game(coalitions.players, coalitions.utility)
        exact = exact_shapley(game)
        exact_s = time.perf_counter() - t0
        print(f"trainer seed {tseed}: {coalitions.retrains} retrains, {exact_s:.0f} s", flush=True)
        for mseed, truncation in itertools.product(range(mc_seeds), TRUNCATIONS):
            run = Game(game.players, game.value)  # counts the coalitions this run asks for
            r = tmc_shapley(
                run,
                permutations=defaults.permutations,
                tolerance=defaults.truncation if truncation is None else truncation,
                check_every=defaults.check_every,
                rank_correlation=defaults.rank_correlation,
                seed=mseed,
            )
            for p in game.players:
                estimates.append(
                    {
                        "tseed": tseed,
                        "mseed": mseed,
                        "default": truncation is None,
                        "owner": p,
                        "exact": exact[p],
                        "se": r.stderr[p],
                        "err": abs(r.values[p] - exact[p]),
                        "converged": r.converged,
                        "permutations": r.permutations,
                        "evaluations": r.evaluations,
                    }
                )
        exact_rows.append(
            {
                "tseed": tseed,
                "retrains": coalitions.retrains,
                "seconds": exact_s,
                "hard_eval": len(trainer.hard_eval),
                "exact": exact,
            }
        )
    yield (
        "digits-10",
        {
            "mc_seeds": mc_seeds,
            "defaults": {
                "permutations": defaults.permutations,
                "truncation": defaults.truncation,
                "check_every": defaults.check_every,
                "rank_correlation": defaults.rank_correlation,
            },
            "exact": exact_rows,
            "estimates": estimates,
        },
    )


def section(entries: list[dict], reading: Reading) -> str:
    entry = entries[0]
    d = entry["data"]
    rows = [r for r in d["estimates"] if r["default"]]
    untruncated = [r for r in d["estimates"] if not r["default"]]
    err, se = np.array([r["err"] for r in rows]), np.array([r["se"] for r in rows])
    runs = list({(r["tseed"], r["mseed"]): r for r in rows}.values())
    runs_untruncated = list({(r["tseed"], r["mseed"]): r for r in untruncated}.values())
    cover2, cover3 = np.mean(err <= 2 * se + 1e-12), np.mean(err <= 3 * se + 1e-12)
    zero = np.mean((se == 0) & (err > 1e-12))
    cover_untruncated = np.mean([r["err"] <= 2 * r["se"] + 1e-12 for r in untruncated])
    df = d["defaults"]
    exact = table(
        ("trainer seed", "held-out hard samples", "retrains", "exact Shapley (s)", "exact values"),
        "rrrrl",
        (
            [
                e["tseed"],
                e["hard_eval"],
                e["retrains"],
                f"{e['seconds']:.0f}",
                ", ".join(
                    f"{k} {v:+.3f}" for k, v in sorted(e["exact"].items(), key=lambda kv: -kv[1])
                ),
            ]
            for e in d["exact"]
        ),
    )
    owners = []
    for p in sorted({r["owner"] for r in rows}):
        mine = [r for r in rows if r["owner"] == p]
        e = np.array([r["err"] for r in mine])
        s = np.array([r["se"] for r in mine])
        ex = next(r["exact"] for r in mine if r["tseed"] == 0)
        owners.append(
            [
                p,
                f"{ex:+.3f}",
                f"{e.mean():.3f}",
                f"{s.mean():.3f}",
                f"{100 * np.mean(e <= 2 * s + 1e-12):.0f}%",
            ]
        )
    seeds = len(d["exact"])
    return paragraphs(
        TITLE,
        f"`python -m benchmarks run shapley_error --seeds {seeds} --mc-seeds {d['mc_seeds']}`: the ten "
        "owners of `benchmarks/data/digits-10.toml` send all their data; exact Shapley (all 1,023 "
        "coalitions retrained, per trainer seed) is the reference, truncated Monte Carlo (the "
        f"`shapley` valuer's defaults: at most {df['permutations']} orders, truncation "
        f"{df['truncation']}, ranking checked every {df['check_every']} orders, stop at Spearman >= "
        f"{df['rank_correlation']} twice in a row) runs {d['mc_seeds']} times per trainer seed on the "
        "memoised game.",
        exact,
        f"Over {len(rows)} owner estimates ({len(runs)} Monte Carlo runs): the exact value lies within "
        f"±2 standard errors in **{100 * cover2:.0f}%** (target >= 90%) and within ±3 in "
        f"{100 * cover3:.0f}%; {100 * zero:.0f}% of the estimates had a standard error of 0 yet missed "
        "(an owner whose marginal contribution was the same in every sampled order). "
        f"{sum(r['converged'] for r in runs)} of {len(runs)} runs converged; orders used: median "
        f"{np.median([r['permutations'] for r in runs]):.0f}, range "
        f"{min(r['permutations'] for r in runs)}-{max(r['permutations'] for r in runs)}; distinct "
        f"coalitions trained by a run: median {np.median([r['evaluations'] for r in runs]):.0f} of "
        f"1,024. Without truncation the same runs cover {100 * cover_untruncated:.0f}% at ±2 se "
        f"({sum(r['converged'] for r in runs_untruncated)} converged, median "
        f"{np.median([r['evaluations'] for r in runs_untruncated]):.0f} coalitions).",
        table(
            ("owner", "exact (seed 0)", "mean |error|", "mean se", "covered at ±2 se"),
            "lrrrr",
            owners,
        ),
        reading.text,
        provenance(entry),
    )
