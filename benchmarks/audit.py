"""The owner-level label audit: how often each owner is judged mislabelled with the neighbours' vote
alone and with the voter the trainer chooses (a random forest on feature vectors where it predicts the
trainer's held-out labels better beyond noise).

Per scenario (and its variant without named hard classes where that is another trainer) and seed, the
trainer is fitted as `compare` fits it, every owner draws the audit sample the engine draws
(`audit_sample`, 32 random samples of its data of the hard classes), and the audit is judged by
`LabelAudit.mislabelled` with both screens. Only the audit is measured (no selection, no retraining):
the verdict on the owner's labels, which is the half of the harm decision the voter decides. A last
part does the same on tables this project never used (scikit-learn's wine and breast cancer, as they
are and with 20 noise columns). `--quick`: digits, 2 seeds, no unseen tables.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from benchmarks.md import Reading, ordered, paragraphs, provenances, table

TITLE = "## Label audit: which voter"
SEEDS = 10
SCENARIOS = ("digits", "credit", "diamonds", "spurious", "fashion")
# variants that are other trainers: spurious names both its classes, credit none
VARIANTS = ("digits", "diamonds", "fashion")
UNSEEN = "unseen tables"


def audit(name: str, all_classes: bool, seeds: int) -> dict:
    """Per owner and seed, whether each screen judges its audit sample mislabelled and its agreement."""
    from mycroft_fl.core.data import Dataset
    from mycroft_fl.evaluation.protocol import misleading_owners
    from mycroft_fl.owner.answer import audit_sample
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.acquisition import strategy_query
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
        query = strategy_query(trainer, strategy)
        for owner, owned in owners.items():
            sample = owned.subset(audit_sample(query, owned))
            if len(sample) == 0:
                continue
            row = counts.setdefault(owner, {"neighbours": [], "chosen": []})
            for key, screen in (("neighbours", neighbours), ("chosen", trainer.screen)):
                verdict = screen.audit(sample)
                row[key].append([bool(verdict.mislabelled), float(verdict.agreement)])
        print(f"{scenario.name} seed {seed}: voter {trainer.screen.voter}", flush=True)
    return {
        "scenario": scenario.name,
        "voters": voters,
        "misleading": misleading_owners(scenario),
        "owners": counts,
    }


def flip_labels(y: np.ndarray, fraction: float, n_classes: int, rng) -> np.ndarray:
    """`y` with about `fraction` of its labels moved to another class at random."""
    out = y.copy()
    flip = rng.random(len(out)) < fraction
    out[flip] = (out[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return out


def unseen(seeds: int) -> list[dict]:
    """On tables this project never used (scikit-learn's bundled wine and breast cancer, and each with
    20 noise columns added, so that few columns carry the label): half the rows are the trainer's, the
    other half an owner's, shown clean, with 30% and 80% of its labels flipped to another class, and
    with every column shuffled among its rows; 32 random rows audited per seed."""
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
                flags = []
                for screen in screens:
                    n = 0
                    for seed in range(seeds):
                        pick = np.random.default_rng([seed, 1]).choice(len(yo), 32, replace=False)
                        sample = Dataset(xo[pick].astype(np.float32), yo[pick])
                        n += bool(screen.audit(sample).mislabelled)
                    flags.append(n)
                rows.append(
                    {
                        "data": label,
                        "voter": screens[1].voter,
                        "owner": owner,
                        "neighbours": flags[0],
                        "chosen": flags[1],
                        "seeds": seeds,
                    }
                )
    return rows


def measure(options) -> Iterator[tuple[str, dict]]:
    seeds = 2 if options.quick else options.seeds
    for name in ["digits"] if options.quick else options.scenarios:
        for all_classes in (False, True) if name in VARIANTS else (False,):
            doc = audit(name, all_classes, seeds)
            yield doc["scenario"], doc
    if not options.quick:
        yield UNSEEN, {"rows": unseen(seeds)}


# ------------------------------------------------------------------------------------------ section


def rows_of(doc: dict) -> list[list[str]]:
    seeds = len(doc["voters"])
    chosen = ", ".join(f"{v} {doc['voters'].count(v)}/{seeds}" for v in sorted(set(doc["voters"])))
    out = []
    for owner, row in doc["owners"].items():
        n = len(row["neighbours"])
        cells = [f"{sum(flag for flag, _ in row[k])}/{n}" for k in ("neighbours", "chosen")] + [
            f"{np.mean([a for _, a in row[k]]):.2f}" for k in ("neighbours", "chosen")
        ]
        mark = " †" if owner in doc["misleading"] else ""
        out.append([f"`{doc['scenario']}`", chosen, f"{owner}{mark}", *cells])
    return out


def section(entries: list[dict], reading: Reading) -> str:
    keys = [k for n in SCENARIOS for k in (n, f"{n}-all-classes" if n in VARIANTS else None) if k]
    entries = ordered(entries, [*keys, UNSEEN])
    scenarios = [e for e in entries if e["key"] != UNSEEN]
    others = [e for e in entries if e["key"] == UNSEEN]
    seeds = sorted({len(e["data"]["voters"]) for e in scenarios})
    unseen_rows = [
        [
            r["data"],
            r["voter"],
            r["owner"],
            f"{r['neighbours']}/{r['seeds']}",
            f"{r['chosen']}/{r['seeds']}",
        ]
        for e in others
        for r in e["data"]["rows"]
    ]
    return paragraphs(
        TITLE,
        f"`python -m benchmarks run audit --seeds {', '.join(map(str, seeds))}`. The audit half of the "
        "harm decision alone: for every owner, in how many seeds its 32 random samples of the hard "
        "classes are judged mislabelled (agreement with the vote below clean labels' by 3 binomial "
        "standard errors and below halfway to flipped labels'), and the vote's mean agreement with its "
        "labels, with the 5-nearest-neighbour vote alone and with the voter the trainer chooses: a "
        "random forest (100 trees, out-of-bag votes for its calibration) where the samples are feature "
        "vectors and it predicts the trainer's held-out labels of the audited classes better than the "
        "neighbours' leave-one-out vote beyond noise (paired McNemar, z = 3); else the neighbours. † = "
        "built to mislead (label noise ≥ 0.5); `corrupted` owners hold the right labels on shuffled "
        "label-carrying columns, `rotated`, `inverted`, `erased` and `blurred` the right labels on "
        "altered images.",
        table(
            (
                "scenario",
                "voter chosen (seeds)",
                "owner",
                "mislabelled: neighbours",
                "mislabelled: chosen",
                "agreement: neighbours",
                "agreement: chosen",
            ),
            "lllrrrr",
            (row for e in scenarios for row in rows_of(e["data"])),
        ),
        [
            "On tables this project never used (scikit-learn's bundled data sets; `unseen` in "
            "benchmarks/audit.py), the same rule, audited owners made from the other half of the rows:",
            "",
            *table(
                ("data", "voter chosen", "owner", "mislabelled: neighbours", "mislabelled: chosen"),
                "lllrr",
                unseen_rows,
            ),
        ]
        if unseen_rows
        else None,
        reading.text,
        *provenances(entries),
    )
