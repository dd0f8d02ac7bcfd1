"""The acquisition engine: query the owners, check their replies, value and rank them, train the
combined model and assemble the report — for one round or several, private or not, whatever carries
the messages (a `Transport`: in-process, or Flower's Grid).

In one round every owner is asked for its whole budget. In several, round 1 asks every owner for an
equal part of it (`rounds.first_ask`); after every round each owner's data so far is valued (its
utility and harm re-checked) and the combined model trained; a later round shares what is left of
the budgets among the owners that are ok, not harmful, of positive value and below their budget
(`rounds.round_pool`, `rounds.allocate`), sends them the combined model and the hard query samples
it still gets wrong, with the indices each already sent, and stops early when no owner is left to
ask or the model gets every hard query sample right. With the strategy's `settle` = k, round 1 asks
every owner for its whole budget and a later round asks only the owners whose place among the first
k is unsettled (`rounds.unsettled`) for a budget more each (up to what it holds), with round 1's
hard samples, until the first k are settled.

Every coalition of owners' data is trained once in a run, whatever asks for it (the harm check, the
valuer, the combined model, a later round), through one `map` (the builtin, or Ray tasks).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from mycroft_fl.core.clusters import Clusters
from mycroft_fl.core.commitment import Commitment
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.embedders import require_embedder
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import Classifier, get_weights, predict
from mycroft_fl.core.params import Interval, check_value
from mycroft_fl.core.progress import Progress
from mycroft_fl.core.query import Query
from mycroft_fl.trainer.coalitions import Coalitions, MapFunction
from mycroft_fl.trainer.intake import take_reply
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.rounds import (
    OwnerLedger,
    allocate,
    check_rounds,
    first_ask,
    round_pool,
    unsettled,
)
from mycroft_fl.trainer.strategy_config import StrategyConfig
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.transport import Answered, Committed, Transport
from mycroft_fl.trainer.valuation import value_round

_log = logging.getLogger("mycroft_fl")

#: Called after every round with its record (`Acquisition.combined_model()` is that round's model).
RoundHook = Callable[[dict], None]


#: An audit key: what Flower's records and numpy's seeds carry (a non-negative int64).
AUDIT_KEY = Interval(int, 0, 2**63 - 1)


def seed_audit_key(seed: int) -> int:
    """The audit key a run of `seed` uses unless given one: reproducible from the seed."""
    digest = hashlib.sha256(b"mycroft-fl audit key" + int(seed).to_bytes(16, "little", signed=True))
    return int.from_bytes(digest.digest()[:8], "little") >> 1


#: Embedders the trainer can vouch for in a private query: features of a network trained on other
#: data, from which a hard sample is not recovered exactly. The `raw` embedder's embeddings and
#: standardiser give the samples back (x = embedding * std + mean); the trainer's own model's features
#: come with its weights, and a factory's are the user's to vouch for.
VOUCHED_EMBEDDERS = ("efficientnet-lite0",)


def check_query(
    config: StrategyConfig,
    embedder: str,
    *,
    private: bool = False,
    allow_revealing: bool = False,
) -> None:
    """Refuse a query the trainer should not send, before any owner is asked (InputError, one line):
    one asking owners to run an embedder the trainer cannot build itself (an optional extra missing,
    a factory that does not import: that failure is the trainer's to fix, not every owner's to
    report), or a private one whose embeddings give the hard samples back, unless `allow_revealing`
    (recorded in the report).

    Parameters
    ----------
    config : StrategyConfig
        The strategy: only a budgeted selector that needs embeddings makes owners embed.
    embedder : str
        The trainer's embedder (`TrainerConfig.embedder`).
    private : bool
        Whether the query is to keep the hard samples with the trainer.
    allow_revealing : bool
        Send a private query with an embedder the trainer cannot vouch for anyway.
    """
    embeds = config.selector.budgeted and config.selector.needs_embeddings
    if embeds:
        require_embedder(embedder)
    if private and embeds and embedder not in VOUCHED_EMBEDDERS and not allow_revealing:
        how = (
            "its embeddings and standardiser give them back (x = embedding * std + mean)"
            if embedder == "raw"
            else "the trainer cannot vouch that its embeddings do not give them back"
        )
        raise InputError(
            f"a private query with embedder {embedder!r} reveals the hard samples: {how}; use an "
            f"embedder the trainer can vouch for ({', '.join(VOUCHED_EMBEDDERS)}) or allow it "
            "explicitly (allow_revealing / --allow-revealing-embedder), which the report records"
        )


def strategy_query(
    trainer: Trainer,
    config: StrategyConfig,
    *,
    budget: int | None = None,
    private: bool = False,
    model: Classifier | None = None,
    hard: Dataset | None = None,
) -> Query:
    """The trainer's query for `config`: its selector, its budget (or `budget`), and the cluster
    centres its valuer asks owners to count their data in (see `Trainer.query` for the rest)."""
    return trainer.query(
        config.selector,
        config.budget if budget is None else budget,
        clusters=config.valuer.query_clusters(trainer),
        private=private,
        model=model,
        hard=hard,
    )


class Acquisition:
    """One acquisition run: what each owner was asked and sent, the valuation after every round, the
    next round's asks, and the report.

    `run(transport)` drives it; `receive(results)` is one round's step on checked replies (what
    `run` calls), for tests and custom drivers.

    Parameters
    ----------
    trainer : Trainer
        The fitted trainer.
    config : StrategyConfig
        The strategy; its budget is each owner's total over all rounds.
    num_rounds : int
        Rounds at most (>= 1; more than 1 needs a budgeted selector and a valuer without clusters).
    private : bool
        Keep the hard samples with the trainer (see `Trainer.query`).
    map_fn : callable
        `map(function, items)` through which owners' data are trained (the builtin, or
        `flower.simulation.ray_map` for Ray tasks on a cluster).
    progress : callable, optional
        Called as `progress(stage, done, total)`.
    name : str
        The run's name in the report.
    audit_key : int, optional
        The key the audit's rows are drawn with (sent to owners after they committed, recorded in
        the report so the draw can be replayed). None: derived from the trainer's seed, so a run is
        reproducible from its seed; an owner who could guess the seed could then grind its
        commitment, so a real deployment should give a secret key (`secrets.randbits(63)`).
    allow_revealing : bool
        Send a private query even with an embedder whose embeddings give the hard samples back
        (`check_query`); the report records it.
    """

    def __init__(
        self,
        trainer: Trainer,
        config: StrategyConfig,
        num_rounds: int = 1,
        *,
        private: bool = False,
        map_fn: MapFunction = map,
        progress: Progress | None = None,
        name: str = "in-process",
        audit_key: int | None = None,
        allow_revealing: bool = False,
    ):
        check_rounds(config, num_rounds)
        check_query(
            config, trainer.config.embedder, private=private, allow_revealing=allow_revealing
        )
        if audit_key is not None:
            check_value(audit_key, AUDIT_KEY, "audit_key")
        self.trainer, self.config, self.num_rounds = trainer, config, num_rounds
        self.private, self.progress, self.name = private, progress, name
        self.allow_revealing = private and allow_revealing
        self.round = 0
        self.ledgers: dict[str, OwnerLedger] = {}
        self.asks: dict[str, int] = {}
        self.records: list[dict] = []
        self.owners: list[OwnerResult] = []
        self.combined: dict = {}
        self.valuation: dict = {"retrains": 0, "seconds": 0.0}
        self.stopped: str | None = None
        self.warnings: list[str] = []
        self.coalitions = Coalitions(trainer, map_fn=map_fn)
        self.clusters: Clusters | None = config.valuer.query_clusters(trainer)
        self.audit_key = seed_audit_key(trainer.seed) if audit_key is None else int(audit_key)
        self.commitments: dict[str, Commitment] = {}
        self.ignored: list[str] = []
        self._first = first_ask(config.budget, num_rounds, config.settle)
        self._query = replace(self._make_query(self._first), audit_key=self.audit_key)
        # round 1's query: the report's audit rows and disclosure are its own (later rounds: no audit)
        self._first_query = self._query

    @property
    def done(self) -> bool:
        """Whether no round is left to run."""
        return self.round >= self.num_rounds or self.stopped is not None

    def _make_query(
        self, budget: int, model: Classifier | None = None, hard: Dataset | None = None
    ) -> Query:
        return strategy_query(
            self.trainer, self.config, budget=budget, private=self.private, model=model, hard=hard
        )

    def budget_of(self, owner: str | None = None) -> int:
        """The budget `owner`'s reply to this round's query is held to."""
        return self._first if self.round == 0 else self.asks[owner]

    def query(self, owner: str | None = None) -> Query:
        """This round's query for `owner` (round 1: the same for every owner)."""
        if self.round == 0:
            return self._query
        return replace(self._query, budget=self.asks[owner], exclude=self.ledgers[owner].sent)

    def commit(self, committed: Mapping[str, Committed | OwnerResult]) -> list[OwnerResult]:
        """Take the owners' commitments (`commitments`); those that failed or sent a malformed
        one are returned as results with their reason, to be booked with round 1's."""
        failed = []
        n_classes = self.trainer.data.n_classes
        for owner_id, c in committed.items():
            if isinstance(c, OwnerResult):
                failed.append(c)
                continue
            try:
                commitment = Commitment.from_arrays(c.commitment)
            except InputError as exc:
                failed.append(OwnerResult(owner_id, status="rejected", reason=f"commitment: {exc}"))
                continue
            problem = None
            if len(commitment.counts) != n_classes:
                problem = f"counts {len(commitment.counts)} classes, the task has {n_classes}"
            elif c.local_size != commitment.n:
                problem = f"declared {c.local_size} samples but committed to {commitment.n}"
            if problem is not None:
                failed.append(
                    OwnerResult(owner_id, status="rejected", reason=f"commitment {problem}")
                )
            else:
                self.commitments[owner_id] = commitment
        return failed

    def take(self, answered: Mapping[str, Answered]) -> list[OwnerResult]:
        """This round's replies checked (`intake.take_reply`) against each owner's commitment and
        the audit drawn from it in the classes of its picks; a transport's failures as they are."""
        results = []
        for owner_id, reply in answered.items():
            if isinstance(reply, OwnerResult):
                results.append(reply)
                continue
            commitment = self.commitments[owner_id]
            config = replace(self.config, budget=self.budget_of(owner_id))
            result = take_reply(
                reply,
                config,
                self.trainer,
                commitment=commitment,
                query=self.query(owner_id),
                clusters=self.clusters,
            )
            result.commitment = commitment
            results.append(result)
        return results

    def run(self, transport: Transport, on_round: RoundHook | None = None) -> Report:
        """Ask the owners through `transport` until the rounds are done, then report.

        Parameters
        ----------
        transport : Transport
            Reaches the owners.
        on_round : callable, optional
            Called after every round as `on_round(record)`.

        Returns
        -------
        Report
            The run's report (with every round when more than one was planned), the combined
            model's weights in `Report.weights`.

        Raises
        ------
        InputError
            When the trainer cannot build what its query asks owners to run (e.g. an embedder whose
            optional extra is missing), or when every owner failed for the same reason.
        """
        start = time.perf_counter()
        committed = transport.commit_all(self.trainer.data.n_classes, "owners committing")
        self.ignored = list(transport.ignored)
        failed = self.commit(committed)
        commit_s = time.perf_counter() - start
        query_s = 0.0
        while not self.done:
            t0 = time.perf_counter()
            stage = (
                "querying owners"
                if self.num_rounds == 1
                else f"querying owners, round {self.round + 1}/{self.num_rounds}"
            )
            asked = list(self.commitments) if self.round == 0 else list(self.asks)
            answered = transport.ask({o: self.query(o) for o in asked}, stage)
            query_s += time.perf_counter() - t0
            results = self.take(answered) + (failed if self.round == 0 else [])
            record = self.receive(results)
            if on_round is not None:
                on_round(record)
        return self.report(
            {"total_s": time.perf_counter() - start, "commit_s": commit_s, "query_s": query_s}
        )

    def receive(self, results: Sequence[OwnerResult]) -> dict:
        """Record a round's checked replies, value every owner's data so far and plan the next round.

        Parameters
        ----------
        results : sequence of OwnerResult
            Every owner asked this round (round 1: every owner of the run), checked; an ok result
            carries the owner indices of what it sent (`OwnerResult.indices`).

        Returns
        -------
        dict
            The round's record (also appended to `records`).
        """
        queried = set(self.commitments) if self.round == 0 else set(self.asks)
        asked = {r.id: self.budget_of(r.id) if r.id in queried else 0 for r in results}
        hard_query = len(self._query.hard_y)
        self.round += 1
        entries = {r.id: self._book(r, asked[r.id]) for r in results}
        if self.round == 1:
            self._check_failures()
        self.owners = [ledger.result() for ledger in self.ledgers.values()]
        self.combined, valuation = value_round(
            self.trainer, self.owners, self.config, self.coalitions, progress=self.progress
        )
        spent = self.valuation["seconds"] + valuation["seconds"]
        self.valuation = {**valuation, "seconds": spent}
        for owner in self.owners:
            if owner.status == "ok" and owner.id in entries:
                entries[owner.id].update(
                    utility=owner.utility, value=owner.value, harmful=owner.harmful
                )
        record = {
            "round": self.round,
            "hard_query": hard_query,
            "asked": sum(asked.values()),
            "sent": sum(e["sent"] for e in entries.values()),
            "received": sum(e["received"] for e in entries.values()),
            "owners": entries,
            "combined": dict(self.combined),
            "disclosure": self._query.disclosure(),
        }
        self.records.append(record)
        if self.round < self.num_rounds:
            self._plan()
            if self.stopped:
                record["stopped"] = self.stopped
        return record

    def _check_failures(self) -> None:
        """Several owners that all failed for one reason cannot be valued: that reason is the
        trainer's to fix (InputError). When more than half failed, say so on the log and in the
        report's `warnings`."""
        failed = [ledger for ledger in self.ledgers.values() if ledger.status == "failed"]
        reasons = {ledger.reason for ledger in failed}
        if len(failed) > 1 and len(failed) == len(self.ledgers) and len(reasons) == 1:
            raise InputError(f"every owner failed ({len(failed)} of them): {reasons.pop()}")
        if 2 * len(failed) > len(self.ledgers):
            warning = (
                f"{len(failed)} of {len(self.ledgers)} owners failed (see their reasons): the "
                "ranking is of the others only"
            )
            self.warnings.append(warning)
            _log.warning("mycroft-fl: %s", warning)

    def _book(self, result: OwnerResult, asked: int) -> dict:
        """Add an owner's reply of this round to its ledger; the round's entry for it."""
        ledger = self.ledgers.setdefault(result.id, OwnerLedger(result.id))
        picks = 0 if result.subset is None else len(result.subset)
        if result.status == "ok" and self.round > 1:
            resent = int(np.isin(result.indices, ledger.sent).sum())
            if resent:
                why = f"resent {resent} samples it had sent in an earlier round"
                result = replace(result, status="rejected", subset=None, reason=why)
        ledger.received += result.received
        if result.selection_s is not None:
            ledger.selection_s = (ledger.selection_s or 0.0) + result.selection_s
        entry = {"asked": asked, "sent": picks, "received": result.received}
        if result.status != "ok":
            entry.update(status=result.status, reason=result.reason)
        if self.round == 1:
            ledger.status, ledger.reason = result.status, result.reason
            ledger.local_size = result.local_size
            ledger.commitment = self.commitments.get(result.id)
            held = result.local_size
            if self.config.budgeted and held is not None and held < self.config.budget:
                ledger.notes.append(
                    f"the budget of {self.config.budget} exceeds the {held} samples it holds; "
                    f"it sent {picks}"
                )
            ledger.audit, ledger.histogram = result.audit, result.histogram
        elif result.status == "rejected":  # breaking the rules once discards everything it sent
            ledger.status, ledger.reason = "rejected", f"round {self.round}: {result.reason}"
            ledger.parts = []
        elif result.status == "failed":  # what it sent before still counts; it is asked no more
            ledger.stopped = f"round {self.round}: {result.reason}"
        if result.status == "ok" and ledger.status == "ok":
            ledger.parts.append(result.subset)
            ledger.sent = np.concatenate([ledger.sent, result.indices])
        return entry

    def _plan(self) -> None:
        """The next round's asks and query, or why there is none (`stopped`)."""
        if self.config.settle is not None:
            self._plan_settling()
            return
        valued = {o.id: o for o in self.owners}
        budget = self.config.budget
        room = {
            o: budget - len(ledger.sent)
            for o, ledger in self.ledgers.items()
            if ledger.status == "ok" and ledger.stopped is None and not valued[o].harmful
        }
        value = {o: valued[o].value for o in room}
        sent = {o: len(ledger.sent) for o, ledger in self.ledgers.items()}
        pool = round_pool(budget, sent, self.num_rounds - self.round)
        self.asks = allocate(pool, value, room)
        if not self.asks:
            self.stopped = "no owner left to ask: none is useful, unharmful and below its budget"
            return
        hard = self.trainer.hard_query
        model = self.combined_model()
        wrong = np.flatnonzero(predict(model, hard.x) != hard.y)
        if len(wrong) == 0:
            self.stopped = "the combined model gets every hard query sample right"
            self.asks = {}
            return
        self._query = replace(
            self._make_query(budget, model=model, hard=hard.subset(wrong)), audit=0
        )

    def _plan_settling(self) -> None:
        """`settle`'s next round: a budget more from each owner whose place among the first k is
        unsettled and that holds more, with round 1's hard samples (no audit: round 1's stands)."""
        k = self.config.settle
        askable = [
            o
            for o in self.owners
            if o.status == "ok"
            and not o.harmful
            and o.value is not None
            and self.ledgers[o.id].stopped is None
        ]
        doubt = unsettled(askable, k)
        self.records[-1]["unsettled"] = doubt
        if not doubt:
            self.stopped = f"the first {k} are settled: no value's interval crosses the boundary"
            self.asks = {}
            return
        held = {o: (self.ledgers[o].local_size or 0) - len(self.ledgers[o].sent) for o in doubt}
        self.asks = {o: min(self.config.budget, n) for o, n in held.items() if n > 0}
        if not self.asks:
            self.stopped = "the owners whose place is unsettled have nothing more to send"
            return
        self._query = replace(self._first_query, audit=0, audit_key=0)

    def combined_model(self) -> Classifier:
        """The combined model of the last round: the trainer's model trained with the data of the
        owners it combines (the very model its figures were measured on; trained when first asked
        for, unless valuing it already did)."""
        if not self.records:
            raise RuntimeError("no round has been valued yet")
        return self.coalitions.model(frozenset(self.combined["owners"]))

    def report(self, timings: Mapping[str, float]) -> Report:
        """The run's report: the last valuation (of every owner's data over all rounds), every round
        when more than one was planned, and the combined model's weights.

        Parameters
        ----------
        timings : mapping of str to float
            Seconds, at least `total_s`; the valuation's seconds are added as `valuation_s`.
        """
        return Report(
            scenario=self.name,
            strategy=self.config,
            seed=self.trainer.seed,
            private=self.private,
            trainer=self.trainer.summary(),
            owners=self.owners,
            combined=self.combined,
            valuation=self.valuation,
            timings={**timings, "valuation_s": self.valuation["seconds"]},
            rounds=self.records if self.num_rounds > 1 else [],
            warnings=list(self.warnings),
            audit={"key": self.audit_key, "rows": self._first_query.audit},
            disclosure={
                **self._first_query.disclosure(),
                **({"revealing_embedder_allowed": True} if self.allow_revealing else {}),
            },
            ignored=list(self.ignored),
            fit_combined=lambda: get_weights(self.combined_model()) if self.records else None,
        )
