"""What the trainer accepts of an owner's reply: its form, the selector's rules, the trainer's value
range, the audit sample and the cluster histogram, each checked before anything of it is used."""

from __future__ import annotations

import numpy as np

from mycroft_fl.core.clusters import Clusters
from mycroft_fl.core.data import Dataset
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
    audit: int = 0,
    clusters: Clusters | None = None,
) -> OwnerResult:
    """Check one owner's reply to a `config` query; a bad one becomes a `rejected` result with its
    reason.

    Besides its form, a reply must keep to the selector's rules (`Selector.reply_rules`: the budget
    and the hard classes, unless unbudgeted or all data), the trainer's value range (out-of-domain
    data is rejected), its declared local size, and must not be padded with copies. A budgeted reply
    carries the audit sample the query asked for (at most `audit` samples of the hard classes, none
    when it asked for none), checked alike. When the query carried cluster centres (`clusters`, EcoVal), the reply
    carries the owner's histogram over them. `received` counts every sample that left the owner,
    whatever its form: the longest of the reply's arrays plus the audit.

    Parameters
    ----------
    reply : Reply
        What the owner sent, as it arrived.
    config : StrategyConfig
        The strategy, with the budget this reply is held to.
    trainer : Trainer
        The trainer (its data's shape and classes, hard classes and value range).
    audit : int
        Random samples the query asked for beside the picks, for the label audit.
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
        reply.indices,
        sample_shape=trainer.data.train.sample_shape,
        n_classes=trainer.data.n_classes,
        local_size=reply.local_size,
        **config.selector.reply_rules(config.budget, trainer.hard_classes),
        **trainer.reply_limits,
    )
    audit_sample, problem = _check_audit(config, trainer, audit, reply.audit_x, reply.audit_y)
    if reason is None and problem is not None:
        subset, reason = None, f"audit sample: {problem}"
    counts = None
    if clusters is not None and subset is not None:
        classes = np.unique(trainer.hard_query.y)
        counts, problem = check_histogram(
            reply.histogram,
            shape=(len(classes), clusters.cells_per_class),
            classes=classes,
            sent=subset.y,
            local_size=reply.local_size,
        )
        if reason is None and problem is not None:
            subset, reason = None, problem
    size = reply.local_size
    declared = isinstance(size, (int, float, np.integer)) and not isinstance(size, (bool, np.bool_))
    common = dict(
        received=reply.received,
        selection_s=reply.selection_s,
        local_size=int(size) if declared and reason is None else None,
    )
    if reason is not None:
        return OwnerResult(reply.id, status="rejected", reason=reason, **common)
    return OwnerResult(
        reply.id,
        subset=subset,
        audit=audit_sample,
        histogram=counts,
        indices=np.asarray(reply.indices, dtype=np.int64),
        **common,
    )


def _check_audit(
    config: StrategyConfig, trainer: Trainer, size: int, x: object, y: object
) -> tuple[Dataset | None, str | None]:
    """The audit sample of a reply to a budgeted query that asked for `size` random samples, checked
    like the reply itself (no padding check: a random sample may hold copies), or the reason to
    reject it. None, None when none is due and none came."""
    if not config.budgeted:
        return None, None
    if size and x is None and y is None:
        return None, f"missing (the query asked for {size} random samples)"
    n = max((len(a) for a in (x, y) if isinstance(a, np.ndarray) and a.ndim >= 1), default=0)
    if not size and n == 0:
        return None, None
    return check_reply(
        x,
        y,
        np.arange(n, dtype=np.int64),
        sample_shape=trainer.data.train.sample_shape,
        n_classes=trainer.data.n_classes,
        budget=size,
        allowed_labels=config.selector.allowed_labels(trainer.hard_classes),
        **{**trainer.reply_limits, "max_padding": None},
    )
