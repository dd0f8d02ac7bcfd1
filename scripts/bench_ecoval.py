"""EcoVal (owners valued by the clusters of their data) against Mycroft alone, both on Mycroft's subsets.

Per scenario and seed, one fitted trainer runs full information (the reference), `mycroft` (each
owner's subset retrained alone) and `ecoval` (the same subsets, plus each owner's cluster histogram)
at 5% of an owner's data (scripts/bench_evidence.py's BUDGETS), in-process with compare's own
figures (`run_figures`): precision@3, NDCG@3 and Kendall tau-b of the ranking against full
information's, gain share, retrains, valuation seconds, samples received and histogram entries.
Each scenario's runs are kept in runs/ecoval/<scenario>.json; `--write` assembles the BENCHMARKS.md
section "## EcoVal: owners valued by the clusters of their data" from those present.

    .venv/bin/python scripts/bench_ecoval.py --scenario digits --seeds 10
    .venv/bin/python scripts/bench_ecoval.py --scenario spurious --seeds 3
    .venv/bin/python scripts/bench_ecoval.py --scenario fashion --seeds 3
    .venv/bin/python scripts/bench_ecoval.py --write
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from bench_evidence import BUDGETS, OWNER_SIZE
from benchmarks_md import write_section

from mycroft_fl.evaluation.protocol import misleading_owners, run_figures
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import value_with
from mycroft_fl.trainer.strategy_config import resolve_strategy
from mycroft_fl.trainer.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "ecoval"
SCENARIOS = ("digits", "spurious", "fashion")
STRATEGIES = ("mycroft", "ecoval")
RANKING = ("precision_at_k", "ndcg_at_k", "kendall_tau_b")
MAX_EXTRA_EXPOSURE = 0.05  # the target: at most 5% more exposure than Mycroft alone
HEADING = "## EcoVal: owners valued by the clusters of their data"
READING = (
    "Reading (run of commit 74be940, digits 10 seeds, spurious and fashion 3 seeds each, where the time ran "
    "out): on digits ecoval ranks closer to full information than Mycroft alone (Kendall tau-b 0.98 vs 0.84, "
    "better in 8 of 10 seeds, worse in 1; NDCG@3 0.99 vs 0.96): Mycroft puts `generalist` first because its "
    "6 picks are as good as `specialist`'s, ecoval scales by the 60 8s and 9s `specialist` holds against "
    "`generalist`'s 24. The target is MISSED on spurious (tau-b 0.86 vs 0.88, precision@3 0.89 vs 1.00) and "
    "on fashion in precision@3 (0.89 vs 1.00; tau-b 0.83 vs 0.80, better). The cause is the same owner in "
    "both: `blurred`. Its picks are worth less than the sharp owners' (spurious, Mycroft utility 0.17-0.23 "
    "against 0.42-0.59), but its histogram puts as much of its data as theirs in the cells the received "
    "samples proved worth most, and the scaling (worth held over worth sent) multiplies it 11-14x against "
    "8-12x for `uncorrelated` and 2-5x for `counter-few`: ecoval lifts it from rank 5.0 to 3.7 on spurious "
    "(full information 5.0) and 2.7 to 1.7 on fashion (2.3), pushing `counter-few` (spurious) and "
    "`generalist` (fashion) down. Blur does not move an image out of its cluster of the trainer's features, "
    "so per-cell worth cannot tell it from sharp data. Crediting an owner's held data only in the cells its "
    "own picks reached (tried, not kept) made spurious worse: tau-b 0.81, precision@3 0.67, `blurred` at 3.0. "
    "Harmful owners stay last (`noisy` 8.0 and `inverted` "
    "9.7-10 of 10 on fashion, `noisy` 8 of 8 on spurious) and out of the combined model (gain share within "
    "3 points of Mycroft's, the combined owners are chosen the same way). Exposure: +0.0% to +0.6% in "
    "values revealed (met), but +16% to +42% if each histogram entry counted as much as a sample. Cost: one "
    "retrain per non-empty cell, 2.2x Mycroft's retrains and 2-5x its valuation seconds."
)


def budget_of(name: str) -> int:
    """The budget of BUDGETS nearest 5% of an owner's data."""
    return min(BUDGETS[name], key=lambda b: abs(b - 0.05 * OWNER_SIZE[name]))


def measure(name: str, seeds: int) -> dict:
    """Every run's figures on scenario `name` for `seeds` seeds from the scenario's own."""
    scenario = load_scenario(ROOT / "simulations" / f"{name}.toml")
    trainer_data, owners = scenario.trainer_data(), scenario.owners_data()
    behaviours = {o.id: o.behaviour for o in scenario.owners}
    misleading = misleading_owners(scenario)
    budget = budget_of(name)
    configs = [resolve_strategy(s, budget) for s in STRATEGIES]
    runs = []
    for seed in range(scenario.seed, scenario.seed + seeds):
        t0 = time.perf_counter()
        trainer = Trainer(trainer_data, scenario.trainer, seed=seed)
        reference = value_with(
            trainer, owners, resolve_strategy("full-information"), behaviours=behaviours
        )
        for config in configs:
            report = value_with(trainer, owners, config, scenario=name, behaviours=behaviours)
            run = run_figures(report, reference, {}, misleading, k=3, budgeted=True)
            sample_values = int(np.prod(trainer_data.train.sample_shape)) + 1  # features and label
            runs.append(
                {
                    **asdict(run),
                    "exposed_values": run.exposed_total * sample_values + run.revealed_total,
                    "reference": {o.id: o.rank for o in reference.owners},
                }
            )
        print(f"{name} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return {"scenario": name, "budget": budget, "seeds": seeds, "runs": runs}


def _by(doc: dict, strategy: str) -> list[dict]:
    return sorted((r for r in doc["runs"] if r["strategy"] == strategy), key=lambda r: r["seed"])


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def section(docs: list[dict]) -> str:
    """The BENCHMARKS.md section from each scenario's measured runs."""
    lines = [
        HEADING,
        "",
        "Issue 11 item 2. `ecoval` (strategies/ecoval.toml: Mycroft's subsets, valuer `ecoval` with 4 clusters, "
        "reach 2.0) against `mycroft` (the same subsets, each retrained alone), both against full information's "
        "ranking of the same seed, at 5% of an owner's data. The query carries k-means centres of the trainer "
        "model's penultimate features (its training samples of the hard classes and its hard query samples); "
        "each owner reports per hard class how many of its samples fall in each cluster or beyond them (a far "
        "cell); the trainer retrains once per cell on the samples it received there, pooled over the owners "
        "not judged harmful, and values an owner as its subset's utility times the worth it holds over the "
        "worth it sent. Commands:",
        "",
        "```",
        *(
            f".venv/bin/python scripts/bench_ecoval.py --scenario {d['scenario']} --seeds {d['seeds']}"
            for d in docs
        ),
        ".venv/bin/python scripts/bench_ecoval.py --write",
        "```",
        "",
        "Figures are means over seeds; `wins` counts the seeds where ecoval's Kendall tau-b beats / ties / "
        "trails Mycroft's. Exposure: samples that left the owners (picks and the 32-sample label audit) and "
        "histogram entries (counts); `extra` is the histogram's share on top of Mycroft's exposure, in values "
        "revealed (a sample is its features and label, an entry one number) and, stricter, in items (an entry "
        "counted as a sample).",
        "",
        "| scenario | budget | seeds | strategy | precision@3 | NDCG@3 | Kendall tau-b | wins | gain share "
        "| retrains | valuation s | samples | histogram entries | extra (values) | extra (items) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for d in docs:
        mycroft, ecoval = _by(d, "mycroft"), _by(d, "ecoval")
        taus = [(e["kendall_tau_b"], m["kendall_tau_b"]) for e, m in zip(ecoval, mycroft)]
        wins = (
            f"{sum(e > m for e, m in taus)} / {sum(e == m for e, m in taus)} / "
            f"{sum(e < m for e, m in taus)}"
        )
        for strategy, runs in (("mycroft", mycroft), ("ecoval", ecoval)):
            extra_values = extra_items = None
            if strategy == "ecoval":
                base_values = _mean([r["exposed_values"] for r in mycroft])
                base_items = _mean([r["exposed_total"] for r in mycroft])
                extra_values = _mean([r["exposed_values"] for r in runs]) / base_values - 1
                extra_items = (
                    _mean([r["exposed_total"] + r["revealed_total"] for r in runs]) / base_items - 1
                )
            lines.append(
                f"| {d['scenario']} | {d['budget']} | {d['seeds']} | {strategy} | "
                + " | ".join(_fmt(_mean([r[k] for r in runs]), ".2f") for k in RANKING)
                + f" | {wins if strategy == 'ecoval' else ''} | "
                f"{_fmt(_mean([r['gain_fraction'] for r in runs]), '.0%')} | "
                f"{_fmt(_mean([r['retrains'] for r in runs]), '.1f')} | "
                f"{_fmt(_mean([r['valuation_s'] for r in runs]), '.1f')} | "
                f"{_fmt(_mean([r['exposed_total'] for r in runs]), '.0f')} | "
                f"{_fmt(_mean([r['revealed_total'] for r in runs]), '.0f')} | "
                f"{_fmt(extra_values, '+.1%')} | {_fmt(extra_items, '+.1%')} |"
            )
        means = {
            k: (_mean([r[k] for r in ecoval]), _mean([r[k] for r in mycroft])) for k in RANKING
        }
        closer = means["kendall_tau_b"][0] > means["kendall_tau_b"][1] and all(
            e >= m for e, m in means.values()
        )
        extra = _mean([r["exposed_values"] for r in ecoval]) / _mean(
            [r["exposed_values"] for r in mycroft]
        )
        verdicts.append(
            f"- {d['scenario']}: closer to full information (higher Kendall tau-b, precision@3 and "
            "NDCG@3 not lower): "
            f"{'met' if closer else 'MISSED'}; at most 5% more exposure (values): "
            f"{'met' if extra - 1 <= MAX_EXTRA_EXPOSURE else 'MISSED'} ({extra - 1:+.1%})."
        )
    lines += [
        "",
        "Targets (issue 11: closer to full information on every image scenario, <= 5% more exposure):",
        "",
    ]
    lines += verdicts
    lines += ["", READING]
    lines += ["", "Per owner (mean rank over seeds; 1 = most useful):", ""]
    for d in docs:
        owners = sorted(_by(d, "mycroft")[0]["reference"])
        lines.append(f"| {d['scenario']} | " + " | ".join(f"`{o}`" for o in owners) + " |")
        lines.append("|---" * (len(owners) + 1) + "|")
        rows = [("full information", [r["reference"] for r in _by(d, "mycroft")])]
        rows += [
            (s, [{o: v["rank"] for o, v in r["owners"].items()} for r in _by(d, s)])
            for s in STRATEGIES
        ]
        for label, ranks in rows:
            cells = [_fmt(_mean([x.get(o) for x in ranks]), ".1f") for o in owners]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--write", action="store_true", help="write the section from runs/ecoval/*.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.scenario:
        OUT.mkdir(parents=True, exist_ok=True)
        doc = measure(args.scenario, args.seeds)
        (OUT / f"{args.scenario}.json").write_text(json.dumps(doc, indent=1))
    if args.write:
        docs = [
            json.loads((OUT / f"{n}.json").read_text())
            for n in SCENARIOS
            if (OUT / f"{n}.json").exists()
        ]
        write_section(section(docs))


if __name__ == "__main__":
    main()
