"""What the trainer accepts of an owner's reply: its form, the selector's rules, the trainer's value
range, the openings of its picks and of the audit against its commitment, and its cluster
histogram, each checked before anything of it is used."""

from __future__ import annotations

import numpy as np

from mycroft_fl.core.clusters import Clusters
from mycroft_fl.core.commitment import Commitment, verify_openings
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.query import Query
from mycroft_fl.owner.answer import audit_positions_of
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.transport import Reply
from mycroft_fl.trust.replies import check_histogram, check_reply


def take_reply(
    reply: Reply,
    config: StrategyConfig,
    trainer: Trainer,
    *,
    commitment: Commitment,
    query: Query,
    clusters: Clusters | None = None,
) -> OwnerResult:
    """Check one owner's reply to a `config` query; a bad one becomes a `rejected` result with its
    reason.

    Besides its form, a reply must keep to the selector's rules (`Selector.reply_rules`: the budget
    and the hard classes, unless unbudgeted or all data), the trainer's value range (out-of-domain
    data is rejected), the local size it committed to, and must not be padded with copies. Its
    picks must open against its commitment, and it must open exactly the audit positions the
    trainer drew from the commitment with the query's key, in the classes its picks claim
    (`audit_positions_of`; checked alike, but for padding). When the query carried cluster centres
    (`clusters`, EcoVal), the reply carries the owner's histogram over them. `received` counts
    every sample that left the owner, whatever its form.

    Parameters
    ----------
    reply : Reply
        What the owner sent, as it arrived.
    config : StrategyConfig
        The strategy, with the budget this reply is held to.
    trainer : Trainer
        The trainer (its data's shape and classes, hard classes and value range).
    commitment : Commitment
        What the owner committed to before the query.
    query : Query
        The query the owner answered (its audit size and key).
    clusters : Clusters, optional
        The cluster centres the query carried.

    Returns
    -------
    OwnerResult
        ok with its subset, audit sample and histogram, or rejected with the reason.
    """
    subset, reason = check_reply(
        reply.x,
        reply.y,
        reply.positions,
        sample_shape=trainer.data.train.sample_shape,
        n_classes=trainer.data.n_classes,
        local_size=reply.local_size,
        **config.selector.reply_rules(config.budget, trainer.hard_classes),
        **trainer.reply_limits,
    )
    checked = trainer.config.defences  # without defences only a reply's form is checked
    if reason is None and checked and reply.local_size != commitment.n:
        reason = f"declared {reply.local_size} samples but committed to {commitment.n}"
    if reason is None and checked:
        problem = verify_openings(commitment, reply.positions, subset.x, subset.y, reply.proofs)
        reason = None if problem is None else f"picks do not open against its commitment: {problem}"
    picked_y = subset.y if subset is not None else np.empty(0, np.int64)
    drawn = audit_positions_of(query, commitment, picked_y)
    sample, problem = _check_audit(config, trainer, commitment if checked else None, drawn, reply)
    if reason is None and problem is not None:
        subset, reason = None, f"audit: {problem}"
    counts = None
    if clusters is not None and reason is None:
        classes = np.unique(trainer.hard_query.y)
        counts, problem = check_histogram(
            reply.histogram,
            shape=(len(classes), clusters.cells_per_class),
            classes=classes,
            sent=subset.y,
            local_size=reply.local_size,
        )
        if problem is not None:
            reason = problem
    common = dict(
        received=reply.received,
        selection_s=reply.selection_s,
        local_size=commitment.n if reason is None else None,
    )
    if reason is not None:
        return OwnerResult(reply.id, status="rejected", reason=reason, **common)
    return OwnerResult(
        reply.id,
        subset=subset,
        audit=sample,
        histogram=counts,
        indices=np.asarray(reply.positions, dtype=np.int64),
        **common,
    )


def _check_audit(
    config: StrategyConfig,
    trainer: Trainer,
    commitment: Commitment | None,
    drawn: np.ndarray,
    reply: Reply,
) -> tuple[Dataset | None, str | None]:
    """The audit's rows of a reply to a budgeted query, checked like the picks (no padding check: a
    random sample may hold copies), at exactly the positions drawn and opening against the
    commitment (None: not checked against it); or the reason to reject the reply. None, None when
    none is due and none came."""
    x, y, at = reply.audit_x, reply.audit_y, reply.audit_positions
    n = max((len(a) for a in (x, y, at) if isinstance(a, np.ndarray) and a.ndim >= 1), default=0)
    if not len(drawn) and n == 0:
        return None, None
    if not config.budgeted:
        return None, f"{n} audit samples sent, none asked for"
    if x is None and y is None:
        return None, f"missing (the query asked for the {len(drawn)} rows it drew)"
    sample, problem = check_reply(
        x,
        y,
        at,
        sample_shape=trainer.data.train.sample_shape,
        n_classes=trainer.data.n_classes,
        budget=len(drawn),
        **{**trainer.reply_limits, "max_padding": None},
    )
    if problem is not None or commitment is None:
        return sample, problem
    if not np.array_equal(np.sort(np.asarray(at)), drawn):
        return None, f"opened {n} rows other than the {len(drawn)} the trainer drew"
    problem = verify_openings(commitment, at, sample.x, sample.y, reply.audit_proofs)
    return (sample, None) if problem is None else (None, f"does not open: {problem}")
