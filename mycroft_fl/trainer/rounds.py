"""Planning acquisition rounds: what round 1 asks of every owner, how much a later round may ask
for, how it is shared among the useful owners (or, with a strategy's `settle`, which owners' place
in the ranking is still in doubt), and each owner's ledger of what it sent. The acquisition engine
(`trainer.acquisition`) runs the rounds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mycroft_fl.core.commitment import Commitment
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.params import POSITIVE_INT, check_value
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig


def check_rounds(config: StrategyConfig, num_rounds: int) -> None:
    """Refuse a number of rounds the strategy cannot run.

    Parameters
    ----------
    config : StrategyConfig
        The strategy: more than one round needs a budgeted selector and a valuer that sends no
        cluster centres.
    num_rounds : int
        Rounds asked for (>= 1).

    Raises
    ------
    InputError
        Naming the problem.
    """
    check_value(num_rounds, POSITIVE_INT, "num_rounds")
    if num_rounds > 1 and not config.budgeted:
        raise InputError(
            f"rounds need a budgeted selector: {config.selector.name!r} sends all its data in one "
            "round (use 1 round)"
        )
    if num_rounds > 1 and config.valuer.sends_clusters:
        raise InputError(
            f"valuer {config.valuer.name!r} values owners from the cluster histograms of one query "
            "(use 1 round)"
        )


def first_ask(budget: int, num_rounds: int, settle: int | None = None) -> int:
    """What round 1 asks of every owner: an equal part of its budget, at least 1; with `settle`, the
    whole budget (later rounds ask more of some owners).

    Parameters
    ----------
    budget : int
        Samples an owner may share over all rounds (with `settle`: in each round it is asked).
    num_rounds : int
        Rounds planned.
    settle : int, optional
        The strategy's `settle`.

    Returns
    -------
    int
        `budget // num_rounds`, at least 1; `budget` with `settle`.
    """
    return budget if settle is not None else max(1, budget // num_rounds)


def value_interval(owner: OwnerResult) -> tuple[float, float]:
    """An owner's value with its 95% interval (`value_ci`; the value itself at both ends when the
    held-out hard samples gave none)."""
    if owner.value_ci is None or any(np.isnan(owner.value_ci)):
        return (owner.value, owner.value)
    return owner.value_ci


def unsettled(owners: list[OwnerResult], k: int) -> list[str]:
    """The owners whose place among the first `k` the data do not settle: ranked by value, a member of
    the first `k` whose interval reaches above the lowest end of those below it, or an owner below
    whose interval reaches above the lowest end of the first `k` — the same overlap that marks an
    unsettled order in the report (`~`), taken at the boundary of the first `k` (as LUCB does for
    best-arm identification).

    Parameters
    ----------
    owners : list of OwnerResult
        Owners that may still be asked: valued, ok and not harmful.
    k : int
        How many first places the trainer wants settled.

    Returns
    -------
    list of str
        Their ids, in rank order; none when every owner fits among the first `k`.
    """
    ranked = sorted(owners, key=lambda o: (-o.value, o.id))
    top, rest = ranked[:k], ranked[k:]
    if not rest:
        return []
    low_top = min(value_interval(o)[0] for o in top)
    high_rest = max(value_interval(o)[1] for o in rest)
    return [o.id for o in top if value_interval(o)[0] <= high_rest] + [
        o.id for o in rest if value_interval(o)[1] >= low_top
    ]


def round_pool(budget: int, sent: Mapping[str, int], rounds_left: int) -> int:
    """The samples a later round may ask for: the budget every owner has left (harmful, failed and
    emptied owners' included, so the others can use it), spread evenly over the rounds left.

    Parameters
    ----------
    budget : int
        Samples an owner may share over all rounds.
    sent : mapping of str to int
        Samples each owner has sent so far, for every owner of the run.
    rounds_left : int
        Rounds left, this one included (the last takes all that is left).

    Returns
    -------
    int
        The round's pool.
    """
    left = sum(max(0, budget - n) for n in sent.values())
    return -(-left // rounds_left)


def allocate(pool: int, utility: Mapping[str, float], room: Mapping[str, int]) -> dict[str, int]:
    """Share `pool` samples among owners in proportion to their positive utility, none above its
    room; what an owner cannot take is shared among the others.

    Parameters
    ----------
    pool : int
        Samples to share.
    utility : mapping of str to float
        Each owner's utility so far; owners at or below 0 get nothing.
    room : mapping of str to int
        What each owner may still send (its budget minus what it sent); missing: nothing.

    Returns
    -------
    dict of str to int
        Every owner given a positive ask, with it: asks sum to at most `pool`, each at most its room
        (whole samples by largest remainder, ties by id).
    """
    asks = dict.fromkeys(utility, 0)
    active = {o for o, u in utility.items() if u > 0 and room.get(o, 0) > 0}
    left = pool
    while left > 0 and active:
        total = sum(utility[o] for o in active)
        share = {o: left * utility[o] / total for o in active}
        full = {o for o in active if share[o] >= room[o] - asks[o]}
        if full:  # they take their room; the rest of the pool is shared again among the others
            for o in full:
                left -= room[o] - asks[o]
                asks[o] = room[o]
            active -= full
            continue
        whole = {o: math.floor(share[o]) for o in active}
        by_remainder = sorted(active, key=lambda o: (whole[o] - share[o], o))
        for o in by_remainder[: left - sum(whole.values())]:
            whole[o] += 1
        for o in active:
            asks[o] += whole[o]
        left = 0
    return {o: a for o, a in asks.items() if a > 0}


@dataclass
class OwnerLedger:
    """What one owner sent over the rounds: its commitment, its checked subsets, their committed
    positions, its round-1 audit sample and cluster histogram, every sample that left it
    (`received`), and why it is asked nothing more (`stopped`)."""

    id: str
    status: str = "ok"
    reason: str | None = None
    parts: list[Dataset] = field(default_factory=list)
    sent: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    audit: Dataset | None = None
    histogram: np.ndarray | None = None
    received: int = 0
    selection_s: float | None = None
    local_size: int | None = None
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)
    commitment: Commitment | None = None

    def result(self) -> OwnerResult:
        """A fresh result holding everything the owner sent so far, to be valued."""
        ok = self.status == "ok"
        return OwnerResult(
            self.id,
            status=self.status,
            subset=Dataset.concat(self.parts) if ok else None,
            reason=self.reason,
            selection_s=self.selection_s,
            local_size=self.local_size,
            received=self.received,
            audit=self.audit if ok else None,
            histogram=self.histogram if ok else None,
            notes=list(self.notes),
            commitment=self.commitment,
        )
