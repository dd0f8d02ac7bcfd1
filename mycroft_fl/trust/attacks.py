"""Owners who cheat, for simulations that test the trainer's defences (`behaviour` of a scenario owner).

Some cheats change what an owner holds, and so what it commits to, before any query
(`held_data`); the scenario builds that data:
- `flip-to-hard`: relabels its samples of other classes as the classes the trainer is thin in (it
  knows them), then selects as usual: it buys hard-sample accuracy by breaking the rest of the task;
- `twin`: holds a slightly jittered copy of another owner's data (`twin_of`), to be paid twice;
- `pad-near`: holds its few samples of those classes padded out with near-copies of them, to look
  as rich as a better owner.
The others change what it sends (`respond`, which wraps the honest answer, `owner.answer.answer_query`):
- `replay`: sends back the trainer's own hard query samples as its picks, slightly perturbed;
- `out-of-domain`: selects as usual, then sends values a thousand times larger;
- `pad`: fills its budget with copies of one sample;
- `clean-audit`: opens, for the audit, rows it chose for agreeing with the query's model instead of
  the rows the trainer drew (with flipped labels in its data, the plain way to pass an audit it
  chooses);
- `switch`: commits to its data, then opens rows of a perturbed copy of it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.models import predict, set_weights
from mycroft_fl.core.query import Query
from mycroft_fl.owner.answer import Answer, answer_query, audit_positions_of
from mycroft_fl.owner.holding import Holding

HONEST = "honest"
#: Cheats in what an owner holds (and commits to).
HELD = ("flip-to-hard", "twin", "pad-near")
#: Cheats in what an owner sends.
SENT = ("replay", "out-of-domain", "pad", "clean-audit", "switch")
BEHAVIOURS = (HONEST, *HELD, *SENT)
#: Jitter of a near-copy, in standard deviations of each feature of the data copied.
JITTER = 0.01
#: Near-copies a `pad-near` owner adds per real sample of the targeted classes.
PAD_COPIES = 4


def held_data(behaviour: str, data: Dataset, *, targets: Sequence[int], seed: int = 0) -> Dataset:
    """What an owner scripted with `behaviour` holds, and so commits to (`data` itself when the
    behaviour cheats only in what it sends).

    Parameters
    ----------
    behaviour : str
        One of `BEHAVIOURS`.
    data : Dataset
        The owner's own data; for `twin`, the data of the owner it copies.
    targets : sequence of int
        The classes the trainer is thin in, which a cheater is taken to know.
    seed : int
        Seed of its relabelling and jitter.
    """
    rng = np.random.default_rng(seed)
    if behaviour == "flip-to-hard":
        y = data.y.copy()
        other = ~np.isin(y, targets)
        y[other] = rng.choice(np.asarray(targets), size=int(other.sum()))
        return Dataset(data.x, y)
    if behaviour == "twin":
        return Dataset(_jittered(data.x, rng), data.y.copy())
    if behaviour == "pad-near":
        real = np.flatnonzero(np.isin(data.y, targets))
        copies = np.repeat(real, PAD_COPIES)
        x = np.concatenate([data.x, _jittered(data.x[copies], rng, like=data.x)])
        return Dataset(x.astype(data.x.dtype), np.concatenate([data.y, data.y[copies]]))
    return data


def _jittered(
    x: np.ndarray, rng: np.random.Generator, like: np.ndarray | None = None
) -> np.ndarray:
    """`x` plus Gaussian noise of `JITTER` standard deviations of each feature (of `like`)."""
    scale = JITTER * (x if like is None else like).std(axis=0)
    return (x + rng.normal(size=x.shape) * scale).astype(x.dtype)


def respond(
    query: Query,
    holding: Holding,
    behaviour: str = HONEST,
    *,
    seed: int = 0,
    allow_code: Collection[str] | str = (),
) -> Answer:
    """What an owner scripted with `behaviour` sends for `query`: the honest answer of what it holds
    and committed to, or a cheat of it (`allow_code`: the user code it runs, see
    `owner.answer.select_for_query`; `seed`: the cheat's own randomness).

    Raises
    ------
    ValueError
        For an unknown behaviour.
    """
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}: use one of {', '.join(BEHAVIOURS)}")
    if behaviour == "switch":  # answers honestly, but from data other than what it committed to
        data = holding.data
        other = Dataset(_jittered(data.x, np.random.default_rng(seed)), data.y)
        return answer_query(
            query, Holding(other, len(holding.commitment.counts)), allow_code=allow_code
        )
    sent = answer_query(query, holding, allow_code=allow_code)
    rng = np.random.default_rng(seed)
    if behaviour == "replay":
        n = min(query.budget, len(query.hard_y))
        x = query.hard_x[:n] + rng.normal(0, 0.01, query.hard_x[:n].shape) * query.hard_x.std(
            axis=0
        )
        positions = np.arange(n, dtype=np.int64)
        return _audited(
            query,
            holding,
            sent._replace(
                x=x.astype(np.float32),
                y=query.hard_y[:n].copy(),
                positions=positions,
                proofs=holding.tree.prove(positions),
            ),
        )
    if behaviour == "out-of-domain":
        return sent._replace(x=sent.x * 1000.0)
    if behaviour == "pad" and len(sent.positions):
        n = query.budget
        return _audited(
            query,
            holding,
            sent._replace(
                x=np.repeat(sent.x[:1], n, axis=0),
                y=np.repeat(sent.y[:1], n),
                positions=np.arange(n, dtype=np.int64),
                proofs=np.repeat(sent.proofs[:1], n, axis=0),
            ),
        )
    if behaviour == "clean-audit" and len(sent.audit_positions):
        return sent._replace(**_agreeable_audit(query, holding, sent.y, len(sent.audit_positions)))
    return sent


def _audited(query: Query, holding: Holding, sent: Answer) -> Answer:
    """`sent` with the audit the trainer draws for the picks it now claims, opened honestly (a
    cheat in the picks alone, not in the audit)."""
    drawn = holding.rows(audit_positions_of(query, holding.commitment, sent.y))
    opened = holding.open(drawn)
    return sent._replace(
        audit_x=opened.x,
        audit_y=opened.y,
        audit_positions=opened.positions,
        audit_proofs=opened.proofs,
    )


def _agreeable_audit(
    query: Query, holding: Holding, picked_y: np.ndarray, size: int
) -> dict[str, np.ndarray]:
    """An audit of the owner's own choosing: `size` of its rows of the audited classes whose labels
    the query's model predicts, opened (instead of the rows the trainer drew)."""
    data = holding.data
    drawn = holding.rows(audit_positions_of(query, holding.commitment, picked_y))
    candidates = np.flatnonzero(np.isin(data.y, data.y[drawn]))
    model = set_weights(query.model.build(), query.weights)
    agree = candidates[predict(model, data.x[candidates]) == data.y[candidates]]
    chosen = np.concatenate([agree, np.setdiff1d(candidates, agree)])[:size]
    opened = holding.open(np.sort(chosen))
    return {
        "audit_x": opened.x,
        "audit_y": opened.y,
        "audit_positions": opened.positions,
        "audit_proofs": opened.proofs,
    }
