"""How often Monte Carlo Shapley's reported error covers the exact value, on a real game.

The game is scripts/digits-10.toml (ten digits owners, every one sending all its data): v(S) is the
held-out hard-accuracy gain of fine-tuning with the owners of S. All 1,023 coalitions are trained once
per trainer seed (exact Shapley is the reference); truncated Monte Carlo then runs on the memoised game
with many seeds of its own at no further training cost. Writes the BENCHMARKS.md section
"## Monte Carlo Shapley: standard errors and convergence".

    .venv/bin/python scripts/bench_shapley_error.py [--trainer-seeds 2] [--mc-seeds 20]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch
from benchmarks_md import write_section

from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.coalitions import Coalitions
from mycroft_fl.trainer.games import Game, exact_shapley, tmc_shapley
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.valuers import Shapley

SCENARIO = Path(__file__).resolve().parent / "digits-10.toml"
#: Monte Carlo runs with the valuer's truncation (None) and without truncation (0.0), for comparison.
TRUNCATIONS = (None, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainer-seeds", type=int, default=2)
    parser.add_argument("--mc-seeds", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    scenario = load_scenario(SCENARIO)
    owners = scenario.owners_data()
    defaults = Shapley()
    rows, lines = [], []
    for tseed in range(args.trainer_seeds):
        t0 = time.perf_counter()
        trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=tseed)
        coalitions = Coalitions(trainer, [OwnerResult(k, subset=d) for k, d in owners.items()])
        game = Game(coalitions.players, coalitions.utility)
        exact = exact_shapley(game)
        exact_s = time.perf_counter() - t0
        print(f"trainer seed {tseed}: {coalitions.retrains} retrains, {exact_s:.0f} s", flush=True)
        for mseed, truncation in itertools.product(range(args.mc_seeds), TRUNCATIONS):
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
                err = abs(r.values[p] - exact[p])
                rows.append(
                    dict(
                        tseed=tseed,
                        mseed=mseed,
                        default=truncation is None,
                        owner=p,
                        exact=exact[p],
                        se=r.stderr[p],
                        err=err,
                        converged=r.converged,
                        permutations=r.permutations,
                        evaluations=r.evaluations,
                    )
                )
        lines.append((tseed, coalitions.retrains, exact_s, len(trainer.hard_eval), exact))
    text = section(rows, lines, args, defaults)
    print(text)
    write_section(text)


def section(rows: list[dict], lines: list, args: argparse.Namespace, defaults: Shapley) -> str:
    """The BENCHMARKS.md section."""
    untruncated = [r for r in rows if not r["default"]]
    rows = [r for r in rows if r["default"]]
    err = np.array([r["err"] for r in rows])
    se = np.array([r["se"] for r in rows])
    runs = {(r["tseed"], r["mseed"]): r for r in rows}.values()
    cover2, cover3 = np.mean(err <= 2 * se + 1e-12), np.mean(err <= 3 * se + 1e-12)
    zero = np.mean((se == 0) & (err > 1e-12))
    cover_untruncated = np.mean([r["err"] <= 2 * r["se"] + 1e-12 for r in untruncated])
    runs_untruncated = {(r["tseed"], r["mseed"]): r for r in untruncated}.values()
    out = [
        "## Monte Carlo Shapley: standard errors and convergence",
        "",
        f"`scripts/bench_shapley_error.py --trainer-seeds {args.trainer_seeds} --mc-seeds {args.mc_seeds}`: "
        "the ten owners of `scripts/digits-10.toml` send all their data; exact Shapley (all 1,023 coalitions "
        "retrained, per trainer seed) is the reference, truncated Monte Carlo (the `shapley` valuer's defaults: "
        f"at most {defaults.permutations} orders, truncation {defaults.truncation}, ranking checked every "
        f"{defaults.check_every} orders, stop at Spearman >= {defaults.rank_correlation} twice in a row) runs "
        f"{args.mc_seeds} times per trainer seed on the memoised game.",
        "",
        "| trainer seed | held-out hard samples | retrains | exact Shapley (s) | exact values |",
        "|---:|---:|---:|---:|---|",
    ]
    for tseed, retrains, secs, n_eval, exact in lines:
        vals = ", ".join(f"{k} {v:+.3f}" for k, v in sorted(exact.items(), key=lambda kv: -kv[1]))
        out.append(f"| {tseed} | {n_eval} | {retrains} | {secs:.0f} | {vals} |")
    out += [
        "",
        f"Over {len(rows)} owner estimates ({len(runs)} Monte Carlo runs): the exact value lies within "
        f"±2 standard errors in **{100 * cover2:.0f}%** (target >= 90%) and within ±3 in {100 * cover3:.0f}%; "
        f"{100 * zero:.0f}% of the estimates had a standard error of 0 yet missed (an owner whose marginal "
        "contribution was the same in every sampled order). "
        f"{sum(r['converged'] for r in runs)} of {len(runs)} runs converged; orders used: median "
        f"{np.median([r['permutations'] for r in runs]):.0f}, range "
        f"{min(r['permutations'] for r in runs)}-{max(r['permutations'] for r in runs)}; distinct coalitions "
        f"trained by a run: median {np.median([r['evaluations'] for r in runs]):.0f} of 1,024. "
        f"Without truncation the same runs cover {100 * cover_untruncated:.0f}% at ±2 se "
        f"({sum(r['converged'] for r in runs_untruncated)} converged, median "
        f"{np.median([r['evaluations'] for r in runs_untruncated]):.0f} coalitions).",
        "",
        "| owner | exact (seed 0) | mean |error| | mean se | covered at ±2 se |",
        "|---|---:|---:|---:|---:|",
    ]
    for p in sorted({r["owner"] for r in rows}):
        mine = [r for r in rows if r["owner"] == p]
        e = np.array([r["err"] for r in mine])
        s = np.array([r["se"] for r in mine])
        ex = next(r["exact"] for r in mine if r["tseed"] == 0)
        out.append(
            f"| {p} | {ex:+.3f} | {e.mean():.3f} | {s.mean():.3f} | {100 * np.mean(e <= 2 * s + 1e-12):.0f}% |"
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
