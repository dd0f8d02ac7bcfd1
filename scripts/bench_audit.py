"""The owner-level label audit: how often each owner is judged mislabelled with the neighbours' vote
alone and with the voter the trainer chooses (a random forest on feature vectors where it predicts the
trainer's held-out labels better beyond noise), written into BENCHMARKS.md ("## Label audit: which
voter").

Run:

    .venv/bin/python scripts/bench_audit.py [--seeds 10] [--scenarios digits,credit,...] [--print-only]

Per scenario (and its variant without named hard classes where that is another trainer) and seed, the
trainer is fitted as `mycroft-fl compare` fits it, every owner draws the audit sample the engine draws
(`audit_sample`, 32 random samples of its data of the hard classes), and the audit is judged by
`LabelAudit.mislabelled` with both screens. Only the audit is measured (no selection, no retraining):
the verdict on the owner's labels, which is the half of the harm decision the voter decides.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from benchmarks_md import publish, scenario_options  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Label audit: which voter"
COMMAND = ".venv/bin/python scripts/bench_audit.py"
SCENARIOS = ("digits", "credit", "diamonds", "spurious", "fashion")
# variants that are other trainers: spurious names both its classes, credit none
VARIANTS = ("digits", "diamonds", "fashion")


def measure(name: str, all_classes: bool, seeds: int) -> dict:
    """Per owner, audits judged mislabelled with each screen, and the mean agreement of each, over seeds."""
    from mycroft_fl.core.data import Dataset
    from mycroft_fl.evaluation.protocol import misleading_owners
    from mycroft_fl.owner.answer import audit_sample
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.strategy_config import load_strategy
    from mycroft_fl.trainer.trainer import Trainer
    from mycroft_fl.trust.screening import Screen

    scenario = load_scenario(name)
    scenario = scenario.without_hard_classes() if all_classes else scenario
    data, owners = scenario.trainer_data(), scenario.owners_data()
    strategy = load_strategy("mycroft", budget=32)
    counts: dict[str, dict[str, list]] = {}
    voters = []
    for seed in range(scenario.seed, scenario.seed + seeds):
        trainer = Trainer(data, scenario.trainer, seed=seed)
        neighbours = Screen(
            Dataset.concat([data.train, data.val]),
            trainer.hard_query,
            n_classes=data.n_classes,
            classes=trainer.hard_classes,
            forest=False,
            seed=seed,
        )
        voters.append(trainer.screen.voter)
        query = trainer.query(strategy)
        for owner, owned in owners.items():
            sample = owned.subset(audit_sample(query, owned))
            if len(sample) == 0:
                continue
            row = counts.setdefault(owner, {"neighbours": [], "chosen": []})
            for key, screen in (("neighbours", neighbours), ("chosen", trainer.screen)):
                audit = screen.audit(sample)
                row[key].append((audit.mislabelled, audit.agreement))
        print(f"{scenario.name} seed {seed}: voter {trainer.screen.voter}", file=sys.stderr)
    return {
        "name": scenario.name,
        "voters": voters,
        "misleading": misleading_owners(scenario),
        "owners": counts,
    }


def measure_unseen(seeds: int) -> list[str]:
    """Table rows on tables this project never used (scikit-learn's bundled wine and breast cancer, and
    each with 20 noise columns added, so that few columns carry the label): half the rows are the
    trainer's, the other half an owner's, shown clean, with 30% and 80% of its labels flipped to
    another class, and with every column shuffled among its rows; 32 random rows audited per seed."""
    from sklearn.datasets import load_breast_cancer, load_wine

    from mycroft_fl.core.data import Dataset
    from mycroft_fl.trust.screening import Screen

    rows = []
    for name, loader in (("wine", load_wine), ("breast cancer", load_breast_cancer)):
        bunch = loader()
        for noise in (0, 20):
            rng = np.random.default_rng(0)
            x = bunch.data
            if noise:
                x = np.hstack([x, rng.normal(size=(len(x), noise)) * x.std(axis=0).mean()])
            y = bunch.target.astype(np.int64)
            n_classes = int(y.max() + 1)
            order = rng.permutation(len(y))
            mine, theirs = order[: len(y) // 2], order[len(y) // 2 :]
            labelled = Dataset(x[mine].astype(np.float32), y[mine])

            shuffled = np.column_stack([rng.permutation(col) for col in x[theirs].T])
            owners = {
                "clean": (x[theirs], y[theirs]),
                "30% flipped": (x[theirs], flip_labels(y[theirs], 0.3, n_classes, rng)),
                "80% flipped †": (x[theirs], flip_labels(y[theirs], 0.8, n_classes, rng)),
                "columns shuffled": (shuffled, y[theirs]),
            }
            screens = [
                Screen(labelled, labelled.subset(np.arange(2)), n_classes=n_classes, forest=forest)
                for forest in (False, True)
            ]
            label = f"{name}" + (f" + {noise} noise columns" if noise else "")
            for owner, (xo, yo) in owners.items():
                cells = []
                for screen in screens:
                    flags = 0
                    for seed in range(seeds):
                        pick = np.random.default_rng([seed, 1]).choice(len(yo), 32, replace=False)
                        sample = Dataset(xo[pick].astype(np.float32), yo[pick])
                        flags += screen.audit(sample).mislabelled
                    cells.append(f"{flags}/{seeds}")
                rows.append(
                    f"| {label} | {screens[1].voter} | {owner} | " + " | ".join(cells) + " |"
                )
    return rows


def flip_labels(
    y: np.ndarray, fraction: float, n_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """`y` with about `fraction` of its labels moved to another class at random."""
    out = y.copy()
    flip = rng.random(len(out)) < fraction
    out[flip] = (out[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return out


# A reading of the tables, written by hand; re-read it whenever the figures change.
READING = (
    "Reading (2026-12-02, 10 seeds): where a few columns carry the label (diamonds' cut, read from "
    "depth and table among 22 columns; wine with 20 noise columns) the neighbours agree with clean "
    "labels barely more than with flipped ones and 32 rows find the mislabelled owner in 2-6 seeds of "
    "10; the forest finds it in every seed and flags no clean owner. It also flags owners whose right "
    "labels sit on shuffled label-carrying columns (diamonds' and wine's), as full information does on "
    "all their data, and rarely credit's, whose shuffled columns leave the label readable from the "
    "rest. Where the neighbours vote well (digits, wine and breast cancer as they are) the forest is "
    "not better beyond noise and the vote stays theirs; images always keep it. What no voter fixes: a "
    "vote on pixels fails on fashion's erased images in half the seeds (agreement 0.32 against clean "
    "0.58), though their labels are right; a vote in the pretrained embedder's space was tried and "
    "did worse (blurred flagged 10/10, noisy 7/10; a one-off measurement, not kept as a script)."
)


def section(results: list[dict], unseen: list[str], seeds: int) -> str:
    lines = [
        SECTION,
        "",
        f"`{COMMAND} --seeds {seeds}`. The audit half of the harm decision alone: for every owner, in "
        "how many seeds its 32 random samples of the hard classes are judged mislabelled (agreement "
        "with the vote below clean labels' by 3 binomial standard errors and below halfway to flipped "
        "labels'), and the vote's mean agreement with its labels, with the 5-nearest-neighbour vote "
        "alone and with the voter the trainer chooses: a random forest (100 trees, out-of-bag votes for "
        "its calibration) where the samples are feature vectors and it predicts the trainer's held-out "
        "labels of the audited classes better than the neighbours' leave-one-out vote beyond noise "
        "(paired McNemar, z = 3); else the neighbours. † = built to mislead (label noise ≥ 0.5); "
        "`corrupted` owners hold the right labels on shuffled label-carrying columns, `rotated`, "
        "`inverted`, `erased` and `blurred` the right labels on altered images.",
        "",
        "| scenario | voter chosen (seeds) | owner | mislabelled: neighbours | mislabelled: chosen "
        "| agreement: neighbours | agreement: chosen |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        chosen = ", ".join(f"{v} {r['voters'].count(v)}/{seeds}" for v in sorted(set(r["voters"])))
        for owner, row in r["owners"].items():
            n = len(row["neighbours"])
            cells = [f"{sum(flag for flag, _ in row[k])}/{n}" for k in ("neighbours", "chosen")] + [
                f"{np.mean([a for _, a in row[k]]):.2f}" for k in ("neighbours", "chosen")
            ]
            mark = " †" if owner in r["misleading"] else ""
            lines.append(
                f"| `{r['name']}` | {chosen} | {owner}{mark} | " + " | ".join(cells) + " |"
            )
    lines += [
        "",
        "On tables this project never used (scikit-learn's bundled data sets; see `measure_unseen`), "
        "the same rule, audited owners made from the other half of the rows:",
        "",
        "| data | voter chosen | owner | mislabelled: neighbours | mislabelled: chosen |",
        "|---|---|---|---:|---:|",
        *unseen,
        "",
        READING,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    args = scenario_options(__doc__.split("\n\n")[0], SCENARIOS, 10, argv)
    start = time.perf_counter()
    results = []
    for name in args.scenarios:
        results.append(measure(name, False, args.seeds))
        if name in VARIANTS:
            results.append(measure(name, True, args.seeds))
    text = section(results, measure_unseen(args.seeds), args.seeds)
    print(f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    publish(text, args.print_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
