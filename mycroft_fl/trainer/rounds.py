"""Acquisition in rounds: ask every owner for a part of its budget, value what came in, then ask the
owners that proved useful for more, with the current combined model and the hard query samples it
still gets wrong, until the rounds or the budget run out.

Plain bookkeeping, no transport: a driver (`MycroftStrategy.start` over Flower, `value_in_rounds`
in-process) sends each owner `Rounds.query(owner)`, checks its reply against
`Rounds.reply_config(owner)` and hands the results to `Rounds.receive`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import Classifier, predict
from mycroft_fl.core.params import POSITIVE_INT, check_value
from mycroft_fl.core.progress import Progress
from mycroft_fl.core.query import Query
from mycroft_fl.trainer.in_process import collect_reply
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.valuation import value_owners_subsets
from mycroft_fl.trust.attacks import answer


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


def first_ask(budget: int, num_rounds: int) -> int:
    """What round 1 asks of every owner: an equal part of its budget, at least 1.

    Parameters
    ----------
    budget : int
        Samples an owner may share over all rounds.
    num_rounds : int
        Rounds planned.

    Returns
    -------
    int
        `budget // num_rounds`, at least 1.
    """
    return max(1, budget // num_rounds)


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
    """What one owner sent over the rounds: its checked subsets, their indices in its data, its round-1
    audit sample and cluster histogram, every sample that left it (`received`), and why it is asked
    nothing more (`stopped`)."""

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
        )


class Rounds:
    """A multi-round acquisition: what each owner was asked and sent, the valuation after every round,
    and the next round's asks.

    Round 1 asks every owner for `first_ask(budget, num_rounds)` samples. After every round each
    owner's data so far is valued (its utility and harm re-checked) and the combined model trained.
    A later round shares `round_pool` among the owners that are ok, not harmful, of positive utility
    and below their budget, in proportion to utility (`allocate`); it sends them the combined model
    and the hard query samples that model still gets wrong, with the indices each already sent. It
    stops early when no owner is left to ask or the model gets every hard query sample right.

    Parameters
    ----------
    trainer : Trainer
        The fitted trainer.
    config : StrategyConfig
        The strategy; its budget is each owner's total over all rounds.
    num_rounds : int
        Rounds at most (>= 1; more than 1 needs a budgeted selector).
    private : bool
        Keep the hard samples with the trainer (see `Trainer.query`).
    """

    def __init__(
        self, trainer: Trainer, config: StrategyConfig, num_rounds: int, *, private: bool = False
    ):
        check_rounds(config, num_rounds)
        self.trainer, self.config, self.num_rounds, self.private = (
            trainer,
            config,
            num_rounds,
            private,
        )
        self.round = 0
        self.ledgers: dict[str, OwnerLedger] = {}
        self.asks: dict[str, int] = {}
        self.records: list[dict] = []
        self.owners: list[OwnerResult] = []
        self.combined: dict = {}
        self.valuation: dict = {}
        self.stopped: str | None = None
        self._first = first_ask(config.budget, num_rounds)
        self._query = trainer.query(replace(config, budget=self._first), private=private)
        self._model: tuple[int, Classifier] | None = None

    @property
    def done(self) -> bool:
        """Whether no round is left to run."""
        return self.round >= self.num_rounds or self.stopped is not None

    def reply_config(self, owner: str | None = None) -> StrategyConfig:
        """The strategy with the budget `owner`'s reply to this round's query is held to."""
        return replace(self.config, budget=self._first if self.round == 0 else self.asks[owner])

    def query(self, owner: str | None = None) -> Query:
        """This round's query for `owner` (round 1: the same for every owner)."""
        if self.round == 0:
            return self._query
        return replace(self._query, budget=self.asks[owner], exclude=self.ledgers[owner].sent)

    def receive(
        self,
        results: Sequence[OwnerResult],
        indices: Mapping[str, np.ndarray],
        *,
        progress: Progress | None = None,
    ) -> dict:
        """Record a round's checked replies, value every owner's data so far and plan the next round.

        Parameters
        ----------
        results : sequence of OwnerResult
            Every owner asked this round (round 1: every owner of the run), as `collect_reply` and
            the driver made them.
        indices : mapping of str to numpy.ndarray
            The owner indices of the samples each ok owner sent this round.
        progress : callable, optional
            Passed to the valuation.

        Returns
        -------
        dict
            The round's record (also appended to `records`).
        """
        asked = {r.id: self.reply_config(r.id).budget for r in results}
        hard_query = len(self._query.hard_y)
        self.round += 1
        entries = {r.id: self._book(r, indices.get(r.id), asked[r.id]) for r in results}
        self.owners = [ledger.result() for ledger in self.ledgers.values()]
        self.combined, self.valuation = value_owners_subsets(
            self.trainer, self.owners, self.config, progress=progress
        )
        for owner in self.owners:
            if owner.status == "ok" and owner.id in entries:
                entries[owner.id].update(utility=owner.utility, harmful=owner.harmful)
        record = {
            "round": self.round,
            "hard_query": hard_query,
            "asked": sum(asked.values()),
            "sent": sum(e["sent"] for e in entries.values()),
            "received": sum(e["received"] for e in entries.values()),
            "owners": entries,
            "combined": dict(self.combined),
        }
        self.records.append(record)
        if self.round < self.num_rounds:
            self._plan()
            if self.stopped:
                record["stopped"] = self.stopped
        return record

    def _book(self, result: OwnerResult, sent: np.ndarray | None, asked: int) -> dict:
        """Add an owner's reply of this round to its ledger; the round's entry for it."""
        ledger = self.ledgers.setdefault(result.id, OwnerLedger(result.id))
        picks = 0 if result.subset is None else len(result.subset)
        if result.status == "ok" and self.round > 1:
            resent = int(np.isin(sent, ledger.sent).sum())
            unasked = result.audit is not None and len(result.audit) > 0
            if resent or unasked:
                why = (
                    f"resent {resent} samples it had sent in an earlier round"
                    if resent
                    else "sent an audit sample the query did not ask for"
                )
                result = replace(result, status="rejected", subset=None, reason=why)
        ledger.received += result.received
        if result.selection_s is not None:
            ledger.selection_s = (ledger.selection_s or 0.0) + result.selection_s
        entry = {"asked": asked, "sent": picks, "received": result.received}
        if result.status != "ok":
            entry.update(status=result.status, reason=result.reason)
        if self.round == 1:
            ledger.status, ledger.reason, ledger.local_size = (
                result.status,
                result.reason,
                result.local_size,
            )
            ledger.audit, ledger.histogram = result.audit, result.histogram
        elif result.status == "rejected":  # breaking the rules once discards everything it sent
            ledger.status, ledger.reason = "rejected", f"round {self.round}: {result.reason}"
            ledger.parts = []
        elif result.status == "failed":  # what it sent before still counts; it is asked no more
            ledger.stopped = f"round {self.round}: {result.reason}"
        if result.status == "ok" and ledger.status == "ok":
            ledger.parts.append(result.subset)
            ledger.sent = np.concatenate([ledger.sent, np.asarray(sent, dtype=np.int64)])
        return entry

    def _plan(self) -> None:
        """The next round's asks and query, or why there is none (`stopped`)."""
        valued = {o.id: o for o in self.owners}
        budget = self.config.budget
        room = {
            o: budget - len(ledger.sent)
            for o, ledger in self.ledgers.items()
            if ledger.status == "ok" and ledger.stopped is None and not valued[o].harmful
        }
        utility = {o: valued[o].utility for o in room}
        sent = {o: len(ledger.sent) for o, ledger in self.ledgers.items()}
        pool = round_pool(budget, sent, self.num_rounds - self.round)
        self.asks = allocate(pool, utility, room)
        if not self.asks:
            self.stopped = "no owner left to ask: none is useful, unharmful and below its budget"
            return
        model = self.combined_model()
        hard = self.trainer.hard_query
        wrong = np.flatnonzero(predict(model, hard.x) != hard.y)
        if len(wrong) == 0:
            self.stopped = "the combined model gets every hard query sample right"
            self.asks = {}
            return
        self._query = replace(
            self.trainer.query(
                self.config, private=self.private, model=model, hard=hard.subset(wrong)
            ),
            audit=0,
        )

    def combined_model(self) -> Classifier:
        """The combined model of the last round: the trainer's model trained with the data of the
        owners it combines (the very training set its figures were measured on)."""
        if self._model is None or self._model[0] != self.round:
            best = set(self.combined["owners"])
            parts = [
                o.subset
                for o in sorted(self.owners, key=lambda o: o.id)
                if o.id in best and len(o.subset)
            ]
            self._model = (self.round, self.trainer.fit(Dataset.concat(parts) if parts else None))
        return self._model[1]

    def report(self, scenario: str, timings: dict) -> Report:
        """The run's report: the last valuation (of every owner's data over all rounds), and every
        round."""
        return Report(
            scenario=scenario,
            strategy=self.config,
            seed=self.trainer.seed,
            private=self.private,
            trainer=self.trainer.summary(),
            owners=self.owners,
            combined=self.combined,
            valuation=self.valuation,
            timings=timings,
            rounds=self.records,
        )


def value_in_rounds(
    trainer: Trainer,
    owners: Mapping[str, Dataset],
    config: StrategyConfig,
    num_rounds: int,
    *,
    scenario: str = "in-process",
    behaviours: Mapping[str, str] | None = None,
    private: bool = False,
    progress: Progress | None = None,
) -> tuple[Report, Rounds]:
    """`value_with` in rounds: the same owners in-process, asked as `Rounds` plans.

    Parameters
    ----------
    trainer : Trainer
        The fitted trainer.
    owners : mapping of str to Dataset
        Each owner's data.
    config : StrategyConfig
        The strategy; its budget is each owner's total over all rounds.
    num_rounds : int
        Rounds at most.
    scenario : str
        The run's name in the report.
    behaviours : mapping of str to str, optional
        Owners scripted to cheat (`trust.attacks`).
    private : bool
        Keep the hard samples with the trainer.
    progress : callable, optional
        Called as `progress(stage, done, total)`.

    Returns
    -------
    tuple
        The report (with `rounds`) and the rounds (for the combined model).
    """
    start = time.perf_counter()
    rounds = Rounds(trainer, config, num_rounds, private=private)
    code = (trainer.config.model, trainer.config.embedder)  # the trainer's own: its owners run it
    while not rounds.done:
        asked = list(owners) if rounds.round == 0 else list(rounds.asks)
        results, indices = [], {}
        for owner_id in asked:
            t0 = time.perf_counter()
            behaviour = (behaviours or {}).get(owner_id, "honest")
            try:
                sent = answer(
                    rounds.query(owner_id),
                    owners[owner_id],
                    behaviour,
                    seed=trainer.seed,
                    allow_code=code,
                )
            except Exception as exc:  # an owner's failure is its own; the run goes on
                reason = f"{type(exc).__name__}: {exc}"
                results.append(OwnerResult(owner_id, status="failed", reason=reason))
                continue
            results.append(
                collect_reply(
                    owner_id,
                    rounds.reply_config(owner_id),
                    trainer,
                    sent.x,
                    sent.y,
                    sent.indices,
                    selection_s=time.perf_counter() - t0,
                    local_size=len(owners[owner_id]),
                    audit_x=sent.audit_x,
                    audit_y=sent.audit_y,
                    histogram=sent.histogram,
                )
            )
            indices[owner_id] = sent.indices
        rounds.receive(results, indices, progress=progress)
    return rounds.report(scenario, {"total_s": time.perf_counter() - start}), rounds
