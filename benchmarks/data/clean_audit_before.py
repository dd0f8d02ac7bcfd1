"""The clean-audit cheater on the code before commit-then-draw (commit 60daeb1), for the reading of
benchmarks/clean_audit: an owner holding the specialist's data with its 8s and 9s swapped out (and as
many others labelled 8 or 9) that sends, as its "random" audit sample, rows the query's model calls 8
or 9, labelled as the model calls them (nothing bound the audit to its data then).

    git worktree add /tmp/before 60daeb1
    cd /tmp/before && PYTHONPATH=$PWD python /path/to/clean_audit_before.py 10
"""

import sys
from pathlib import Path

import numpy as np
import torch

import mycroft_fl.owner.answer as answer
import mycroft_fl.trust.attacks as attacks
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.models import predict, set_weights
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.in_process import acquire
from mycroft_fl.trainer.strategy_config import resolve_strategy
from mycroft_fl.trainer.trainer import Trainer

HONEST = ("specialist", "generalist", "sparse")


def swap(y, classes, n_classes, rng):
    """As the later commit's scenarios/build.py swap_labels."""
    y = y.copy()
    inside = np.isin(y, classes)
    outside = np.setdiff1d(np.arange(n_classes), classes)
    n = min(int(inside.sum()), int((~inside).sum()))
    into = rng.choice(np.flatnonzero(~inside), size=n, replace=False)
    y[inside] = rng.choice(outside, size=int(inside.sum()))
    y[into] = rng.choice(np.asarray(classes), size=len(into))
    return y


def main(seeds: int) -> None:
    torch.set_num_threads(1)
    honest_answer = answer.answer_query
    cheats = []

    def cheating_answer(query, data, **kw):
        sent = honest_answer(query, data, **kw)
        if not any(data is c for c in cheats) or not len(sent.audit_y):
            return sent
        guess = predict(set_weights(query.model.build(), query.weights), data.x)
        rows = np.flatnonzero(np.isin(guess, np.unique(query.hard_y)))[: len(sent.audit_y)]
        return sent._replace(audit_x=data.x[rows], audit_y=guess[rows])

    answer.answer_query = attacks.answer_query = cheating_answer
    shipped = load_scenario(Path("simulations/hostile.toml").resolve())
    for v in (shipped, shipped.without_hard_classes()):
        owners = {k: v.owner_data(k) for k in (*HONEST, "unrelated")}
        base = owners["specialist"]
        cheats[:] = [Dataset(base.x.copy(), swap(base.y, [8, 9], 10, np.random.default_rng(1)))]
        owners["clean-audit"] = cheats[0]
        for seed in range(seeds):
            trainer = Trainer(v.trainer_data(), v.trainer, seed=seed)
            report = acquire(trainer, owners, resolve_strategy("mycroft", 16), scenario=v.name)
            d = {o["id"]: o for o in report.to_dict()["owners"]}
            c = d["clean-audit"]
            above = [h for h in HONEST if d[h]["rank"] and c["rank"] and c["rank"] < d[h]["rank"]]
            print(
                v.name,
                seed,
                "clean-audit rank",
                c["rank"],
                "harmful",
                c.get("harmful"),
                "audit agreement",
                (c.get("label_audit") or {}).get("agreement"),
                "combined",
                "clean-audit" in report.combined["owners"],
                "above",
                above,
                flush=True,
            )


if __name__ == "__main__":
    main(int(sys.argv[1]))
