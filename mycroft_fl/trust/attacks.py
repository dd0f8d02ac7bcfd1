"""Owners who cheat, for simulations that test the trainer's defences (`behaviour` of a scenario owner).

Each cheat wraps the honest answer (`owner.answer.answer_query`):
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
from mycroft_fl.owner.answer import Answer, answer_query, audit_sample, cluster_histogram

HONEST = "honest"
BEHAVIOURS = (HONEST, "replay", "flip-to-hard", "out-of-domain", "pad")


def respond(
    query: Query,
    data: Dataset,
    behaviour: str = HONEST,
    *,
    seed: int = 0,
    allow_code: Collection[str] | str = (),
) -> Answer:
    """What an owner scripted with `behaviour` sends for `query`: the honest answer, or a cheat of
    it (`allow_code`: the user code it runs, see `owner.answer.select_for_query`; `seed`: the
    cheat's own randomness).

    Raises
    ------
    ValueError
        For an unknown behaviour.
    """
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}: use one of {', '.join(BEHAVIOURS)}")
    if behaviour == HONEST:
        return answer_query(query, data, allow_code=allow_code)
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
        return answer_query(query, Dataset(data.x, y), allow_code=allow_code)
    sent = answer_query(query, data, allow_code=allow_code)
    if behaviour == "out-of-domain":
        return sent._replace(x=sent.x * 1000.0)
    if not len(sent.indices):  # pad: nothing picked, nothing to pad with
        return sent
    n = query.budget
    return sent._replace(
        x=np.repeat(sent.x[:1], n, axis=0),
        y=np.repeat(sent.y[:1], n),
        indices=np.arange(n, dtype=np.int64),
    )
