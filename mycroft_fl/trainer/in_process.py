"""One call to value a mapping of owners in-process, with the same pieces the Flower apps use."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from mycroft_fl.core.data import Dataset, TrainerData
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.progress import Progress
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig
from mycroft_fl.trainer.valuation import value_owners_subsets
from mycroft_fl.trust.attacks import answer
from mycroft_fl.trust.replies import check_histogram, check_reply


def collect_reply(
    owner_id: str,
    config: StrategyConfig,
    trainer: Trainer,
    x,
    y,
    indices,
    *,
    local_size: object = None,
    selection_s: float | None = None,
    audit_x: object = None,
    audit_y: object = None,
    histogram: object = None,
) -> OwnerResult:
    """Check one owner's reply to a `config` query; a bad one becomes a `rejected` result with its
    reason.

    Besides its form, a reply must keep to the selector's rules (`Selector.reply_rules`: the budget
    and the hard classes, unless unbudgeted or all data), the trainer's value range (out-of-domain
    data is rejected), its declared local size, and must not be padded with copies. A budgeted reply
    carries the audit sample the query asked for (`audit_x`, `audit_y`: at most `trainer.config.audit`
    samples of the hard classes), checked alike. When the strategy's valuer sends cluster centres
    (EcoVal), the reply carries the owner's `histogram` over them, checked by `check_histogram` and
    counted in what it revealed. `received` counts every sample that left the owner, whatever its
    form: the longest of the reply's arrays plus the audit.

    Returns
    -------
    OwnerResult
        ok with its subset and audit sample, or rejected with the reason.
    """
    subset, reason = check_reply(
        x,
        y,
        indices,
        sample_shape=trainer.data.train.sample_shape,
        n_classes=trainer.data.n_classes,
        local_size=local_size,
        **config.selector.reply_rules(config.budget, trainer.hard_classes),
        **trainer.reply_limits,
    )
    received = _length(x, y, indices) + _length(audit_x, audit_y)
    audit, problem = _check_audit(config, trainer, audit_x, audit_y)
    if reason is None and problem is not None:
        subset, reason = None, f"audit sample: {problem}"
    counts, problem = _check_histogram(config, trainer, histogram, subset, local_size)
    if reason is None and problem is not None:
        subset, reason = None, problem
    size = (
        int(local_size)
        if isinstance(local_size, (int, float))
        and not isinstance(local_size, bool)
        and reason is None
        else None
    )
    common = dict(received=received, selection_s=selection_s, local_size=size)
    if reason is not None:
        return OwnerResult(owner_id, status="rejected", reason=reason, **common)
    return OwnerResult(owner_id, subset=subset, audit=audit, histogram=counts, **common)


def _check_histogram(
    config: StrategyConfig,
    trainer: Trainer,
    histogram: object,
    subset: Dataset | None,
    local_size: object,
) -> tuple[np.ndarray | None, str | None]:
    """The owner's cluster histogram, checked, when the strategy's valuer asked for one (else None,
    None), or the reason to reject the reply."""
    clusters = config.valuer.query_clusters(trainer)
    if clusters is None or subset is None:
        return None, None
    classes = np.unique(trainer.hard_query.y)
    return check_histogram(
        histogram,
        shape=(len(classes), clusters.cells_per_class),
        classes=classes,
        sent=subset.y,
        local_size=local_size,
    )


def _length(*arrays: object) -> int:
    """The number of samples in the longest of `arrays` (0 for none or for what is no array)."""
    return max((len(a) for a in arrays if isinstance(a, np.ndarray) and a.ndim >= 1), default=0)


def _check_audit(
    config: StrategyConfig, trainer: Trainer, x: object, y: object
) -> tuple[Dataset | None, str | None]:
    """The audit sample of a reply to a budgeted query, checked like the reply itself (no padding
    check: a random sample may hold copies), or the reason to reject it. None, None when none is due."""
    if not (config.budgeted and trainer.config.audit):
        return None, None
    if x is None and y is None:
        return None, f"missing (the query asked for {trainer.config.audit} random samples)"
    n = _length(x, y)
    return check_reply(
        x,
        y,
        np.arange(n, dtype=np.int64),
        sample_shape=trainer.data.train.sample_shape,
        n_classes=trainer.data.n_classes,
        budget=trainer.config.audit,
        allowed_labels=config.selector.allowed_labels(trainer.hard_classes),
        **{**trainer.reply_limits, "max_padding": None},
    )


def value_owners(
    trainer_data: TrainerData,
    owners: Mapping[str, Dataset],
    *,
    strategy: str | StrategyConfig = "mycroft",
    budget: int | None = None,
    seed: int = 0,
    trainer: TrainerConfig | None = None,
    scenario: str = "in-process",
    progress: Progress | None = None,
    private: bool = False,
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
    progress : callable, optional
        Called as `progress(stage, done, total)`.
    private : bool
        No raw hard sample leaves the trainer (owners get gradient targets and embeddings).

    Returns
    -------
    Report
        `Report.to_dict()` is report.json; `Report.write(dir)` writes it with report.md and ranking.png.
    """
    start = time.perf_counter()
    config = resolve_strategy(strategy, budget)
    return value_with(
        Trainer(trainer_data, trainer, seed=seed),
        owners,
        config,
        scenario=scenario,
        progress=progress,
        start=start,
        private=private,
    )


def value_with(
    trainer: Trainer,
    owners: Mapping[str, Dataset],
    config: StrategyConfig,
    *,
    scenario: str = "in-process",
    progress: Progress | None = None,
    start: float | None = None,
    behaviours: Mapping[str, str] | None = None,
    private: bool = False,
) -> Report:
    """`value_owners` for a trainer already fitted, so several strategies can share its baseline.
    `behaviours` scripts owners to cheat (attacks.py), for testing the trainer's defences; `private`
    keeps the hard samples with the trainer (the query carries gradient targets and embeddings)."""
    if not owners:
        raise InputError("no owners to value")
    start = time.perf_counter() if start is None else start
    query = trainer.query(config, private=private)
    code = (trainer.config.model, trainer.config.embedder)  # the trainer's own: its owners run it
    results = []
    for i, (owner_id, data) in enumerate(owners.items()):
        t0 = time.perf_counter()
        try:
            sent = answer(
                query,
                data,
                (behaviours or {}).get(owner_id, "honest"),
                seed=trainer.seed,
                allow_code=code,
            )
        except Exception as exc:  # an owner's failure is its own; the run goes on
            results.append(
                OwnerResult(owner_id, status="failed", reason=f"{type(exc).__name__}: {exc}")
            )
            continue
        results.append(
            collect_reply(
                owner_id,
                config,
                trainer,
                sent.x,
                sent.y,
                sent.indices,
                selection_s=time.perf_counter() - t0,
                local_size=len(data),
                audit_x=sent.audit_x,
                audit_y=sent.audit_y,
                histogram=sent.histogram,
            )
        )
        if progress:
            progress("querying owners", i + 1, len(owners))
    combined, valuation = value_owners_subsets(trainer, results, config, progress=progress)
    return Report(
        scenario=scenario,
        strategy=config,
        seed=trainer.seed,
        private=private,
        trainer=trainer.summary(),
        owners=results,
        combined=combined,
        valuation=valuation,
        timings={"total_s": time.perf_counter() - start},
    )
