"""Trust figures: where each cheating owner ranks with and without the trainer's defences (hostile
scenario, written to RELIABILITY.md "## Attacks"), and what private queries cost against raw ones on
digits and fashion (BENCHMARKS.md "## Private queries").

    .venv/bin/python scripts/bench_trust.py [--seeds 5] [--only attacks|privacy]

Attacks: `simulations/hostile.toml`, strategy mycroft at budget 16, seeds 0..N-1, every owner scripted by
its `behaviour`; the same fitted trainer values the owners once with the defences (the default) and once
with `TrainerConfig(defences=False)` (only a reply's form is checked: no out-of-domain or padding
rejection, no replay screening, no harm flag). Privacy: strategy mycroft at budget 32 on digits and
fashion, seeds 0..N-1, raw and private queries from the same trainer; rank agreement with the
full-information ranking of the same seed, combined hard accuracy, whether every owner selected exactly
the same samples, and the query's size.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from benchmarks_md import write_section  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
RELIABILITY = ROOT / "RELIABILITY.md"
COMMAND = ".venv/bin/python scripts/bench_trust.py"
HONEST = ("specialist", "generalist", "sparse", "unrelated")
CHEATERS = {
    "replayer": "replay",
    "flipper": "flip-to-hard",
    "out-of-domain": "out-of-domain",
    "padder": "pad",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def attacks(seeds: int) -> str:
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.in_process import value_with
    from mycroft_fl.trainer.strategy_config import resolve_strategy
    from mycroft_fl.trainer.trainer import Trainer

    sc = load_scenario("hostile")
    behaviours = {o.id: o.behaviour for o in sc.owners}
    runs = {True: [], False: []}
    for seed in range(seeds):
        for defended in (True, False):
            config = dataclasses.replace(sc.trainer, defences=defended)
            trainer = Trainer(sc.trainer_data(), config, seed=seed)
            report = value_with(
                trainer, sc.owners_data(), resolve_strategy("mycroft", 16), behaviours=behaviours
            )
            runs[defended].append(
                {o["id"]: o for o in report.to_dict()["owners"]} | {"_combined": report.combined}
            )
        log(f"attacks: seed {seed} done")

    def outcome(o: dict, honest_ranks: list[int]) -> str:
        if o["rank"] is None:
            return o["status"]
        above = sum(o["rank"] < r for r in honest_ranks)
        return (
            f"{o['rank']}"
            + (f" (above {above} honest)" if above else "")
            + (" harmful" if o.get("harmful") else "")
        )

    rows = [
        "| attack (owner) | what it does to the ranking without defences, per seed | with the defences, per seed | "
        "defence that met it |",
        "|---|---|---|---|",
    ]
    defence = {
        "replayer": "its samples dropped as replays of the hard query samples (`replayed`)",
        "flipper": "flagged `harmful` (implausible labels that lower the other digits), ranked last",
        "out-of-domain": "rejected: values outside the trainer's reference range",
        "padder": "rejected: more than 3/4 of the reply copies of one sample",
    }
    for owner, attack in CHEATERS.items():
        cells = []
        for defended in (False, True):
            cells.append(
                ", ".join(outcome(r[owner], [r[h]["rank"] for h in HONEST]) for r in runs[defended])
            )
        rows.append(f"| `{attack}` ({owner}) | {cells[0]} | {cells[1]} | {defence[owner]} |")
    keep = {
        d: sum(
            [r[h]["rank"] for h in HONEST] == sorted(r[h]["rank"] for h in HONEST) for r in runs[d]
        )
        for d in runs
    }
    in_combined = {
        d: sum(any(c in r["_combined"]["owners"] for c in CHEATERS) for r in runs[d]) for d in runs
    }
    combined_hard = {d: np.mean([r["_combined"]["hard_accuracy"] for r in runs[d]]) for d in runs}
    return "\n".join(
        [
            "## Attacks",
            "",
            f"Measured by `{COMMAND} --only attacks` ({seeds} seeds; {time.strftime('%Y-%m-%d')}): "
            "`simulations/hostile.toml` (digits; four honest owners, `specialist` > `generalist` > `sparse` > "
            "`unrelated` in usefulness, and one cheater per attack), strategy mycroft at budget 16. Each seed's "
            "trainer values the owners with its defences and again without them (`TrainerConfig(defences=False)`: "
            "only a reply's form is checked). A cheater's rank is 1 = best of 8; `above k honest` counts the honest "
            "owners it outranks.",
            "",
            *rows,
            "",
            f"The honest owners kept their order (specialist, generalist, sparse, unrelated, ties allowed) in "
            f"{keep[True]}/{seeds} seeds with the defences and {keep[False]}/{seeds} without. A cheater's subset "
            f"entered the combined model in {in_combined[True]}/{seeds} seeds with the defences and "
            f"{in_combined[False]}/{seeds} without; the combined model's held-out hard accuracy: "
            f"{100 * combined_hard[True]:.1f}% with, {100 * combined_hard[False]:.1f}% without.",
            "",
        ]
    )


def privacy(seeds: int) -> str:
    import torch

    from mycroft_fl.owner.answer import select_for_query
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.in_process import value_with
    from mycroft_fl.trainer.ranking import rank_quality
    from mycroft_fl.trainer.strategy_config import resolve_strategy
    from mycroft_fl.trainer.trainer import Trainer

    torch.set_num_threads(1)
    rows = [
        "| scenario | query | Spearman vs full information | Kendall tau-b | combined hard acc | "
        "owners selecting the same samples as raw | query size (kB) | trainer's query time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("digits", "fashion"):
        sc = load_scenario(name)
        owners = sc.owners_data()
        figures = {False: [], True: []}
        for seed in range(seeds):
            trainer = Trainer(sc.trainer_data(), sc.trainer, seed=seed)
            reference = value_with(trainer, owners, resolve_strategy("full-information")).to_dict()
            ref = {o["id"]: None if o["rank"] is None else -o["rank"] for o in reference["owners"]}
            strategy = resolve_strategy("mycroft", 32)
            picks = {}
            for private in (False, True):
                t0 = time.perf_counter()
                query = trainer.query(strategy, private=private)
                query_s = time.perf_counter() - t0
                size = sum(np.asarray(a).nbytes for a in query.to_arrays().values())
                picks[private] = {k: select_for_query(query, d) for k, d in owners.items()}
                report = value_with(trainer, owners, strategy, private=private).to_dict()
                quality = rank_quality(
                    {o["id"]: None if o["rank"] is None else -o["rank"] for o in report["owners"]},
                    ref,
                )
                figures[private].append(
                    {
                        "spearman": quality["spearman"],
                        "kendall": quality["kendall_tau_b"],
                        "hard": report["combined"]["hard_accuracy"],
                        "kb": size / 1000,
                        "query_s": query_s,
                    }
                )
            same = sum(np.array_equal(picks[False][k], picks[True][k]) for k in owners)
            figures[True][-1]["same"] = f"{same}/{len(owners)}"
            log(f"privacy: {name} seed {seed} done")
        for private in (False, True):
            f = figures[private]

            def cell(key: str, fmt: str, scale: float = 1.0, f=f) -> str:
                v = np.array([x[key] for x in f], dtype=float) * scale
                return (
                    f"{np.nanmean(v):{fmt}} ± {np.nanstd(v, ddof=1):{fmt}}"
                    if len(v) > 1
                    else f"{v[0]:{fmt}}"
                )

            same = ", ".join(x["same"] for x in f) if private else "(reference)"
            rows.append(
                f"| {name} | {'private' if private else 'raw'} | {cell('spearman', '.2f')} | "
                f"{cell('kendall', '.2f')} | {cell('hard', '.1f', 100)}% | {same} | {cell('kb', '.0f')} | "
                f"{cell('query_s', '.2f')} |"
            )
    return "\n".join(
        [
            "## Private queries",
            "",
            f"Measured by `{COMMAND} --only privacy` ({seeds} seeds, mean ± sd; {time.strftime('%Y-%m-%d')}): strategy "
            "mycroft at budget 32, raw and private queries from the same fitted trainer. A private query carries no "
            "raw hard sample, only per hard class the summed last-layer gradient and the hard samples' embeddings "
            "(README, *Private queries*). Rank agreement is with the full-information ranking of the same seed; "
            "*same samples* counts, per seed, the owners whose private selection equals their raw one; query size "
            "is the arrays the query carries (model weights included).",
            "",
            *rows,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds (default 5)")
    p.add_argument("--only", choices=("attacks", "privacy"), help="one part only")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error("--seeds must be >= 1")
    if args.only in (None, "attacks"):
        write_section(attacks(args.seeds), RELIABILITY)
        log("RELIABILITY.md: ## Attacks rebuilt")
    if args.only in (None, "privacy"):
        write_section(privacy(args.seeds))
        log("BENCHMARKS.md: ## Private queries rebuilt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
