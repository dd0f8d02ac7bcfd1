"""In-Run Data Shapley's cost and top of the ranking against per-owner retraining, on 100 owners.

Owners are drawn from benchmarks/data/digits-pool.toml's pool (the digits trainer, thin in 8 and 9):
owner i of 100 holds 16 images of which round(16 (i/99)^1.5) are 8s and 9s, the rest other digits, and
every seventh owner has 60% of its labels flipped; every owner sends all its data. Per seed (the
trainer's and the owners' draw), the `retrain` valuer (one fine-tuning per owner) is the reference,
run again with the trainer fine-tuning in two other orders (its own noise); `inrun` runs once with
recheck=0 and once with recheck=5. CPU seconds are the probe's (this process, one torch thread).
`--quick`: 2 seeds.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.md import Reading, paragraphs, provenance, table
from benchmarks.probe import Timer

TITLE = "## In-Run Data Shapley against per-owner retraining (100 owners)"
SEEDS = 10
POOL = Path(__file__).resolve().parent / "data" / "digits-pool.toml"
OWNERS, SIZE, NOISY_EVERY, FLIPPED = 100, 16, 7, 0.6


def owners_of(pool, hard: list[int], n_classes: int, seed: int) -> dict:
    """The 100 owners of graded usefulness (see the module's docstring)."""
    from mycroft_fl.core.data import Dataset

    rng = np.random.default_rng(seed)
    is_hard = np.isin(pool.y, hard)
    out = {}
    for i in range(OWNERS):
        h = round(SIZE * (i / (OWNERS - 1)) ** 1.5)
        rows = np.concatenate(
            [
                rng.choice(np.flatnonzero(is_hard), h, replace=False),
                rng.choice(np.flatnonzero(~is_hard), SIZE - h, replace=False),
            ]
        )
        data = pool.subset(rows)
        y = data.y.copy()
        if i % NOISY_EVERY == NOISY_EVERY - 1:
            flip = rng.random(len(y)) < FLIPPED
            y[flip] = (y[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
        out[f"o{i:02d}"] = Dataset(data.x, y)
    return out


def value(valuer, trainer, owners: dict) -> dict:
    """Value the owners with `valuer` on a fresh utility; its values, top 3 and cost."""
    from mycroft_fl.trainer.coalitions import Coalitions
    from mycroft_fl.trainer.ranking import rank_owners
    from mycroft_fl.trainer.results import OwnerResult

    coalitions = Coalitions(trainer, [OwnerResult(k, subset=d) for k, d in owners.items()])
    with Timer() as t:
        result = valuer.value(coalitions)
    tie = {k: coalitions.score(frozenset({k})).test_accuracy for k in result.first}
    ranks = rank_owners(result.ranking_scores(), tie_break=tie or None)
    steps = result.cost.get("inrun_steps", 0)
    n_train = len(trainer.data.train)
    # sample-gradients: one per sample per epoch of every training run, plus In-Run's per-sample
    # gradients and its held-out gradient at every step
    retrained = sum(n_train + len(coalitions.subsets[k]) for k in result.values) if not steps else 0
    retrained += sum(n_train + len(coalitions.subsets[k]) for k in result.first)
    union = n_train + sum(len(d) for d in owners.values()) if steps else 0
    return {
        "values": result.values,
        "top3": sorted(ranks, key=ranks.get)[:3],
        "seconds": t.cpu,
        "wall": t.wall,
        "runs": coalitions.retrains + (1 if steps else 0),
        "per_sample": result.cost.get("per_sample_gradients", 0),
        "sample_gradients": trainer.config.training.finetune_epochs * (retrained + union)
        + result.cost.get("per_sample_gradients", 0)
        + steps * len(trainer.hard_eval),
    }


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.ranking import rank_quality
    from mycroft_fl.trainer.trainer import Trainer
    from mycroft_fl.trainer.valuers import InRun, Retrain

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    scenario = load_scenario(POOL)
    pool = scenario.owner_data("pool")
    rows = []
    for seed in range(seeds):
        trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=seed)
        owners = owners_of(pool, list(trainer.hard_classes), trainer.data.n_classes, seed)
        ref = value(Retrain(), trainer, owners)
        again = []  # the same trainer, fine-tuning in other orders: retrain's own noise
        for other in (seed + 1000, seed + 2000):
            reseeded = copy.copy(trainer)
            reseeded.seed = other
            again.append(value(Retrain(), reseeded, owners))
        mean = {k: np.mean([r["values"][k] for r in (ref, *again)]) for k in owners}
        top3_mean = sorted(mean, key=lambda k: (-mean[k], k))[:3]
        first, rechecked = (value(InRun(recheck=k), trainer, owners) for k in (0, 5))
        exact = ref["values"]
        third = sorted(exact.values(), reverse=True)[2]
        order = sorted(first["values"], key=lambda k: -first["values"][k])
        rows.append(
            {
                "seed": seed,
                "ref": ref,
                "inrun": first,
                "recheck": rechecked,
                "spearman": rank_quality(first["values"], exact)["spearman"],
                "same_top3": set(rechecked["top3"]) == set(ref["top3"]),
                "tied_top3": min(exact[k] for k in rechecked["top3"]) >= third,
                "inrun_top3_overlap": len(set(ref["top3"]) & set(first["top3"])),
                "k_needed": max(order.index(k) + 1 for k in ref["top3"]),
                "retrain_again": set(again[0]["top3"]) == set(ref["top3"]),
                "retrain_vs_mean": set(ref["top3"]) == set(top3_mean),
                "recheck_vs_mean": set(rechecked["top3"]) == set(top3_mean),
            }
        )
        print(f"seed {seed}: top 3 {ref['top3']} vs {rechecked['top3']}", flush=True)
    yield "digits-pool", {"rows": rows}


def section(entries: list[dict], reading: Reading) -> str:
    entry = entries[0]
    rows = entry["data"]["rows"]

    def mean(key: str, what: str) -> float:
        return float(np.mean([r[key][what] for r in rows]))

    costs = []
    for key, name in (("ref", "retrain"), ("inrun", "inrun"), ("recheck", "inrun, recheck=5")):
        ratios = ", ".join(
            f"{mean(key, what) / mean('ref', what):.3f}"
            for what in ("runs", "sample_gradients", "seconds")
        )
        costs.append(
            [
                name,
                f"{mean(key, 'runs'):.0f}",
                f"{mean(key, 'per_sample'):,.0f}",
                f"{mean(key, 'sample_gradients'):,.0f}",
                f"{mean(key, 'seconds'):.1f}",
                f"{mean(key, 'wall'):.1f}",
                ratios,
            ]
        )
    n = len(rows)
    spearman = [r["spearman"] for r in rows]
    k_needed = [r["k_needed"] for r in rows]
    return paragraphs(
        TITLE,
        f"`python -m benchmarks run inrun --seeds {n}`: 100 owners drawn from "
        f"`benchmarks/data/digits-pool.toml`'s pool ({SIZE} images each, round({SIZE}·(i/99)^1.5) of "
        f"them 8s and 9s, every {NOISY_EVERY}th owner with {100 * FLIPPED:.0f}% of its labels flipped), "
        "every owner sending all its data; the trainer fine-tunes (20 epochs, batch 64). Reference: the "
        "`retrain` valuer (one fine-tuning per owner). Costs are means over seeds; a sample-gradient is "
        "one sample's gradient in a training batch, one per-sample gradient, or one held-out gradient "
        "sample per In-Run step. Seconds are CPU seconds of one thread (torch.set_num_threads(1)); wall "
        "seconds beside them.",
        table(
            (
                "valuer",
                "training runs",
                "per-sample gradients",
                "sample-gradients",
                "CPU s",
                "wall s",
                "cost / retrain's: runs, sample-gradients, CPU s",
            ),
            "lrrrrrl",
            costs,
        ),
        f"inrun (recheck=0) against retrain's values: Spearman {np.mean(spearman):.2f} (range "
        f"{min(spearman):.2f} to {max(spearman):.2f}); its top 3 holds "
        f"{np.mean([r['inrun_top3_overlap'] for r in rows]):.1f} of retrain's top 3 on average. With "
        f"recheck=5 the top 3 is retrain's own in **{sum(r['same_top3'] for r in rows)} of {n}** seeds "
        "(the same three owners; ties broken by test accuracy as the trainer does), and in "
        f"{sum(r['tied_top3'] for r in rows)} of {n} when an owner tied with retrain's third counts as "
        "the same. Retrain itself, with the same trainer fine-tuning in another order (seed + 1000), "
        f"gives the same top 3 in {sum(r['retrain_again'] for r in rows)} of {n} seeds. The recheck K "
        f"that would have been needed (inrun's top K holding retrain's top 3): median "
        f"{np.median(k_needed):.0f}, range {min(k_needed)}-{max(k_needed)}. Against the mean of three "
        "retrains per owner (three fine-tuning orders) as a less noisy reference, the top 3 of one "
        f"retrain matches in {sum(r['retrain_vs_mean'] for r in rows)} of {n} seeds and inrun "
        f"recheck=5's in {sum(r['recheck_vs_mean'] for r in rows)} of {n}.",
        table(
            (
                "seed",
                "retrain's top 3 (utility)",
                "inrun recheck=5's top 3 (retrain's utility)",
                "Spearman (recheck=0)",
                "K needed",
            ),
            "rllrr",
            (
                [
                    r["seed"],
                    ", ".join(f"{k} {r['ref']['values'][k]:+.2f}" for k in r["ref"]["top3"]),
                    ", ".join(f"{k} {r['ref']['values'][k]:+.2f}" for k in r["recheck"]["top3"]),
                    f"{r['spearman']:.2f}",
                    r["k_needed"],
                ]
                for r in rows
            ),
        ),
        reading.text,
        provenance(entry),
    )
