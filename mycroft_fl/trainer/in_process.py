"""Owners in this process: the acquisition engine's in-process transport, and the Python API's calls."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping

from mycroft_fl.core.data import Dataset, TrainerData
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.progress import Progress, shows_progress
from mycroft_fl.core.query import Query
from mycroft_fl.owner.holding import Holding
from mycroft_fl.trainer.acquisition import Acquisition
from mycroft_fl.trainer.coalitions import MapFunction
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig
from mycroft_fl.trainer.transport import Answered, Committed, Reply
from mycroft_fl.trust.attacks import HONEST, respond


class InProcessOwners:
    """A transport to owners whose data are in this process: each commits to its data, then
    answers as an honest owner would (or as its scripted `behaviour` cheats, `trust.attacks`), one
    after the other.

    Parameters
    ----------
    owners : mapping of str to Dataset
        Each owner's data, by id (what it holds: a cheat in what it holds is already applied).
    behaviours : mapping of str to str, optional
        Owners scripted to cheat (default: every owner honest).
    seed : int
        Seed of the scripted cheats' own randomness.
    allow_code : collection of str, or "*"
        User code ("package.module:factory") the owners run when a query names it.
    progress : callable, optional
        Called as `progress(stage, done, total)` as owners answer.
    """

    def __init__(
        self,
        owners: Mapping[str, Dataset],
        *,
        behaviours: Mapping[str, str] | None = None,
        seed: int = 0,
        allow_code: Collection[str] | str = (),
        progress: Progress | None = None,
    ):
        if not owners:
            raise InputError("no owners to value")
        self.owners, self.behaviours = owners, dict(behaviours or {})
        self.seed, self.allow_code, self.progress = seed, allow_code, progress
        self.ignored: list[str] = []
        self._holdings: dict[str, Holding] = {}

    def commit_all(self, n_classes: int, stage: str) -> dict[str, Committed | OwnerResult]:
        out: dict[str, Committed | OwnerResult] = {}
        for i, (owner_id, data) in enumerate(self.owners.items()):
            try:
                self._holdings[owner_id] = holding = Holding(data, n_classes)
            except Exception as exc:  # an owner's failure is its own; the run goes on
                reason = f"{type(exc).__name__}: {exc}"
                out[owner_id] = OwnerResult(owner_id, status="failed", reason=reason)
            else:
                arrays = holding.commitment.to_arrays()
                out[owner_id] = Committed(owner_id, arrays, local_size=len(data))
            if self.progress:
                self.progress(stage, i + 1, len(self.owners))
        return out

    def ask(self, queries: Mapping[str, Query], stage: str) -> dict[str, Answered]:
        out: dict[str, Answered] = {}
        for i, (owner_id, query) in enumerate(queries.items()):
            holding = self._holdings[owner_id]
            t0 = time.perf_counter()
            try:
                sent = respond(
                    query,
                    holding,
                    self.behaviours.get(owner_id, HONEST),
                    seed=self.seed,
                    allow_code=self.allow_code,
                )
            except Exception as exc:  # an owner's failure is its own; the run goes on
                reason = f"{type(exc).__name__}: {exc}"
                out[owner_id] = OwnerResult(owner_id, status="failed", reason=reason)
            else:
                out[owner_id] = Reply(
                    owner_id,
                    **sent._asdict(),
                    local_size=len(holding.data),
                    selection_s=time.perf_counter() - t0,
                )
            if self.progress:
                self.progress(stage, i + 1, len(queries))
        return out


def acquire(
    trainer: Trainer,
    owners: Mapping[str, Dataset],
    config: StrategyConfig,
    *,
    rounds: int = 1,
    behaviours: Mapping[str, str] | None = None,
    private: bool = False,
    allow_revealing: bool = False,
    audit_key: int | None = None,
    progress: Progress | None = None,
    scenario: str = "in-process",
    map_fn: MapFunction = map,
) -> Report:
    """Run the acquisition engine on owners in this process, for a trainer already fitted (so several
    strategies can share its baseline).

    Parameters
    ----------
    trainer : Trainer
        The fitted trainer.
    owners : mapping of str to Dataset
        Each owner's data, by id.
    config : StrategyConfig
        The strategy; its budget is each owner's total over all rounds.
    rounds : int
        Acquisition rounds at most (>= 1).
    behaviours : mapping of str to str, optional
        Owners scripted to cheat (`trust.attacks`), to test the trainer's defences.
    private : bool
        Keep the hard samples with the trainer (the query carries gradient targets and embeddings).
    allow_revealing : bool
        Send a private query even with an embedder whose embeddings give the hard samples back.
    audit_key : int, optional
        The key the audit's rows are drawn with (None: derived from the trainer's seed).
    progress : callable, optional
        Called as `progress(stage, done, total)`.
    scenario : str
        The run's name in the report.
    map_fn : callable
        `map(function, items)` through which owners' data are trained.

    Returns
    -------
    Report
        The run's report, with the combined model's weights.
    """
    transport = InProcessOwners(
        owners,
        behaviours=behaviours,
        seed=trainer.seed,
        allow_code=(trainer.config.model, trainer.config.embedder),  # the trainer's own code
        progress=progress,
    )
    engine = Acquisition(
        trainer,
        config,
        rounds,
        private=private,
        allow_revealing=allow_revealing,
        audit_key=audit_key,
        map_fn=map_fn,
        progress=progress,
        name=scenario,
    )
    return engine.run(transport)


@shows_progress
def value_owners(
    trainer_data: TrainerData,
    owners: Mapping[str, Dataset],
    *,
    strategy: str | StrategyConfig = "mycroft",
    budget: int | None = None,
    seed: int = 0,
    trainer: TrainerConfig | None = None,
    scenario: str = "in-process",
    progress: bool | Progress | None = None,
    private: bool = False,
    allow_revealing: bool = False,
    rounds: int = 1,
) -> Report:
    """Value `owners` for the trainer, in-process, with the very selection, checks and valuation the
    Flower apps use: each owner selects at most `budget` samples with the strategy's selector, the
    trainer checks every reply, values the owners with the strategy's valuer on held-out hard samples,
    ranks them, and trains a combined model.

    Parameters
    ----------
    trainer_data : TrainerData
        The trainer's training, validation (hard samples are found there) and test sets.
    owners : mapping of str to Dataset
        Each owner's data, by owner id.
    strategy : str or StrategyConfig
        A preset name, a strategy file, or a StrategyConfig.
    budget : int, optional
        Replaces the strategy's budget.
    seed : int
        Seed of training, the hard-sample split, selection and the audit.
    trainer : TrainerConfig, optional
        How the trainer trains, embeds and judges (default TrainerConfig()).
    scenario : str
        The name the report carries.
    progress : bool or callable, optional
        True: progress bars on stderr while it runs (rich's, on a terminal or in a notebook; plain
        lines in a log). A callable is called as `progress(stage, done, total)`. Default: none.
    private : bool
        No raw hard sample leaves the trainer (owners get gradient targets and embeddings).
    allow_revealing : bool
        Send a private query even with an embedder whose embeddings give the hard samples back.
    rounds : int
        Acquisition rounds sharing each owner's budget (1: one query round).

    Returns
    -------
    Report
        `Report.to_dict()` is report.json; `Report.write(dir)` writes it with report.md and
        ranking.png; `Report.weights` are the combined model's weights (what `Result.arrays` of
        `MycroftStrategy.start` holds, as NumPy arrays by parameter name).
    """
    start = time.perf_counter()
    config = resolve_strategy(strategy, budget)
    report = acquire(
        Trainer(trainer_data, trainer, seed=seed),
        owners,
        config,
        rounds=rounds,
        private=private,
        allow_revealing=allow_revealing,
        progress=progress,
        scenario=scenario,
    )
    report.timings["total_s"] = time.perf_counter() - start
    return report
