"""Owners who cheat, for simulations that test the trainer's defences (`behaviour` of a scenario owner).

- `replay`: sends back the trainer's own hard query samples as its data, slightly perturbed;
- `flip-to-hard`: relabels its samples of other classes as hard classes, then selects as usual
  (buys hard-sample accuracy by breaking the rest of the task);
- `out-of-domain`: selects as usual, then sends values a thousand times larger;
- `pad`: fills its budget with copies of one sample.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.query import Query
from mycroft_fl.owner.answer import Answer, audit_sample, cluster_histogram, select_for_query

BEHAVIOURS = ("honest", "replay", "flip-to-hard", "out-of-domain", "pad")


def answer(
    query: Query,
    data: Dataset,
    behaviour: str = "honest",
    *,
    seed: int = 0,
    allow_code: Collection[str] | str = (),
) -> Answer:
    """What an owner with `behaviour` sends for `query`: its picks (samples, labels, owner indices), its
    audit sample and its cluster histogram (when asked), of the data it pretends to hold
    (`allow_code`: the user code it runs, see `select_for_query`)."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}: use one of {', '.join(BEHAVIOURS)}")
    rng = np.random.default_rng(seed)
    if behaviour == "replay":
        n = min(query.budget, len(query.hard_y))
        x = query.hard_x[:n] + rng.normal(0, 0.01, query.hard_x[:n].shape) * query.hard_x.std(
            axis=0
        )
        audit = audit_sample(query, data)
        return Answer(
            x.astype(np.float32),
            query.hard_y[:n].copy(),
            np.arange(n, dtype=np.int64),
            data.x[audit],
            data.y[audit],
            cluster_histogram(query, data),
        )
    if behaviour == "flip-to-hard":
        hard = np.unique(query.hard_y)
        y = data.y.copy()
        other = ~np.isin(y, hard)
        y[other] = rng.choice(hard, size=int(other.sum()))
        data = Dataset(data.x, y)
    picked = select_for_query(query, data, allow_code=allow_code)
    x, y = data.x[picked], data.y[picked]
    if behaviour == "out-of-domain":
        x = x * 1000.0
    elif behaviour == "pad" and len(picked):
        n = query.budget
        x, y, picked = (
            np.repeat(x[:1], n, axis=0),
            np.repeat(y[:1], n),
            np.arange(n, dtype=np.int64),
        )
    audit = audit_sample(query, data)
    return Answer(x, y, picked, data.x[audit], data.y[audit], cluster_histogram(query, data))
