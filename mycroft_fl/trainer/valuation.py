"""Valuing the owners that answered: screen each subset, score it alone (utility and harm), let the
strategy's valuer turn the scores into values, rank, and train the combined model."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from mycroft_fl.core.progress import Progress
from mycroft_fl.trainer.coalitions import CHUNK, Coalitions
from mycroft_fl.trainer.ranking import rank_owners
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig
from mycroft_fl.trainer.trainer import Trainer
from mycroft_fl.trainer.uncertainty import PairedBootstrap
from mycroft_fl.trainer.valuers import Retrain
from mycroft_fl.trust.harm import LabelAudit, PairedChange, judge_harm

SHOWN = 4 * CHUNK  # owners scored between two progress updates: a few chunks for the map to spread


def screen_owner(trainer: Trainer, owner: OwnerResult) -> None:
    """Drop the replays of the trainer's own hard samples from an owner's subset (counted in
    `replayed`)."""
    replayed = (
        trainer.screen.replays(owner.subset)
        if trainer.config.defences
        else np.zeros(owner.shared, bool)
    )
    owner.replayed = int(replayed.sum())
    owner.subset = owner.subset.subset(np.flatnonzero(~replayed))


def share_copies(trainer: Trainer, owners: Sequence[OwnerResult]) -> dict[tuple[str, str], int]:
    """Count each sample once: drop the near-copies within an owner's subset (`near_copies`), and
    give each owner the share of its samples' credit that is its own (`credit`: the mean over its
    samples of 1 / the owners that sent a copy of it), so owners who copy one another share the
    value of what they copied instead of each being paid for it in full.

    Returns
    -------
    dict
        For each ordered pair of owners (a, b), how many of a's samples b sent a copy of.
    """
    if not trainer.config.defences:
        return {}
    found = trainer.screen.copies([o.subset for o in owners])
    for owner, within, holders in zip(owners, found.within, found.holders):
        owner.near_copies = int(within.sum())
        owner.subset = owner.subset.subset(np.flatnonzero(~within))
        kept = holders[~within]
        owner.credit = float(np.mean(1.0 / kept)) if len(kept) else 1.0
    return {(owners[a].id, owners[b].id): n for (a, b), n in found.shared.items()}


def label_audit(trainer: Trainer, owner: OwnerResult, *, budgeted: bool) -> LabelAudit | None:
    """Measure an owner's labels on what it sent, and audit them on the rows the trainer drew from
    its data in the classes of its picks (the audit sample; `leave_out_mislabelled` acts on each
    class of it) or, when it sent all its data (an unbudgeted selector), on that data itself. None
    when there is nothing drawn to audit."""
    sent = trainer.screen.audit(owner.subset)
    owner.label_agreement = None if sent is None else sent.agreement
    owner.label_agreement_expected = None if sent is None else sent.clean
    if budgeted:
        audit = None if owner.audit is None else trainer.screen.audit(owner.audit)
        if audit is not None and trainer.config.defences:
            leave_out_mislabelled(trainer, owner)
    else:  # an unbudgeted reply is all of that data: its vote is the audit, not taken twice
        audit = sent
    owner.label_audit = None if audit is None else audit.to_dict()
    return audit


def leave_out_mislabelled(trainer: Trainer, owner: OwnerResult) -> None:
    """Leave out of an owner's subset its picks of every class whose audit rows are mostly wrong
    beyond chance (`LabelAudit.mislabelled` on that class's rows alone), counted in `unbought`.

    The audit draws its rows in the classes of the picks, so each class the owner is paid for is
    audited on its own: mostly wrong labels there are not bought because its other classes are
    clean. A class alone is judged by the rule (and the noise allowance) of an owner's whole audit,
    its clean labels taken to be as hard to vote on as the trainer's own hard samples of the class
    (`Screen.expected_agreement(as_hard=True)`): the picks are the kind of sample the trainer gets
    wrong, and where its data misleads the vote there, right labels are not left out for it.
    """
    sample = owner.audit
    wrong = [
        int(c)
        for c in np.unique(sample.y)
        if trainer.screen.audit(
            sample.subset(np.flatnonzero(sample.y == c)), as_hard=True
        ).mislabelled
    ]
    drop = np.isin(owner.subset.y, wrong)
    if not drop.any():
        return
    owner.unbought = int(drop.sum())
    owner.subset = owner.subset.subset(np.flatnonzero(~drop))
    owner.notes.append(
        f"{owner.unbought} picks of class{'es' if len(wrong) > 1 else ''} "
        f"{', '.join(map(str, wrong))} left out: the audit's rows of "
        f"{'those classes' if len(wrong) > 1 else 'that class'} are mostly wrong beyond chance"
    )


def combined_owners(
    owners: Sequence[OwnerResult], shared: dict[tuple[str, str], int], top: int
) -> list[OwnerResult]:
    """The owners whose subsets the combined model takes: the `top` best ranked of positive value
    and not harmful, passing over an owner most of whose samples are copies of an owner already
    taken (a copy adds nothing; the next distinct owner does).

    Parameters
    ----------
    owners : sequence of OwnerResult
        The valued owners, ranked.
    shared : dict
        For each ordered pair (a, b), how many of a's samples b sent a copy of (`share_copies`).
    top : int
        Owners to take at most.
    """
    best: list[OwnerResult] = []
    for o in sorted(
        (o for o in owners if o.value > 0 and not o.harmful), key=lambda o: (o.rank, o.id)
    ):
        if len(best) == top:
            break
        if all(2 * shared.get((o.id, b.id), 0) <= o.shared for b in best):
            best.append(o)
    return best


def value_round(
    trainer: Trainer,
    owners: Sequence[OwnerResult],
    strategy: StrategyConfig,
    coalitions: Coalitions,
    *,
    progress: Progress | None = None,
) -> tuple[dict, dict]:
    """Value the owners that answered: drop replays of the trainer's own hard samples, score every
    ok owner's subset alone (its utility with its interval, its harm), value the owners with the
    strategy's valuer, rank them by value, and train the combined model. Fills the owner results
    in place.

    Parameters
    ----------
    trainer : Trainer
        The fitted trainer.
    owners : sequence of OwnerResult
        Every owner of the run; the ok ones are valued.
    strategy : StrategyConfig
        Its valuer turns the scores into values.
    coalitions : Coalitions
        Trains owners' data (each distinct training set once over the whole run), `SHOWN` owners'
        subsets at a time (progress is shown in between).
    progress : callable, optional
        Called as `progress(stage, done, total)`.

    Returns
    -------
    tuple
        The report's `combined` and `valuation` parts (what valuing cost: distinct retrains of the
        run so far, Monte Carlo orders, the valuer's other costs, seconds; whether its estimate
        converged). The combined model is `coalitions.model(frozenset(combined["owners"]))`.
    """
    start = time.perf_counter()
    ok = [o for o in owners if o.status == "ok"]
    # reported, not judged on: the test accuracy outside the hard classes (all of it when every class is hard)
    other = ~np.isin(trainer.data.test.y, trainer.hard_classes)
    other = other if other.any() else np.ones_like(other)
    for owner in ok:
        screen_owner(trainer, owner)
    shared = share_copies(trainer, ok)
    audits = {o.id: label_audit(trainer, o, budgeted=strategy.budgeted) for o in ok}
    coalitions.with_owners(ok)
    control = trainer.control
    bootstrap = PairedBootstrap(len(trainer.hard_eval), seed=trainer.seed)
    for i, owner in enumerate(ok):
        if i % SHOWN == 0:
            coalitions.score_all(frozenset({o.id}) for o in ok[i : i + SHOWN])
        s = coalitions.score(frozenset({owner.id}))
        owner.hard_accuracy, owner.test_accuracy = s.hard_accuracy, s.test_accuracy
        owner.utility = s.hard_accuracy - control.hard_accuracy
        owner.utility_ci = bootstrap.interval(control.hard_correct, s.hard_correct)
        owner.other_accuracy_drop = PairedChange.of(
            control.test_correct, s.test_correct, other
        ).drop
        owner.harm_reason = judge_harm(
            PairedChange.of(
                np.concatenate([control.unseen_correct, control.hard_correct]),
                np.concatenate([s.unseen_correct, s.hard_correct]),
            ),
            audits[owner.id],
        )
        owner.harmful = owner.harm_reason is not None and trainer.config.defences
        if progress:
            progress("valuing owners", i + 1, len(ok))
    result = strategy.valuer.value(coalitions, seed=trainer.seed, progress=progress)
    alone = not strategy.valuer.on_coalitions  # a game over coalitions shares copies itself
    share = {o.id: o.credit if alone else 1.0 for o in ok}
    solo = isinstance(strategy.valuer, Retrain)  # the value is the utility times the credit
    for owner in ok:
        c = share[owner.id]
        owner.value = result.values[owner.id] * c
        owner.value_se = None if result.stderr is None else result.stderr[owner.id] * c
        owner.value_ci = (c * owner.utility_ci[0], c * owner.utility_ci[1]) if solo else None
    scores = {k: v * share[k] for k, v in result.ranking_scores().items()}
    ranks = rank_owners(
        {o.id: scores.get(o.id) for o in owners},
        harmful={o.id: o.harmful for o in owners},
        tie_break={o.id: o.test_accuracy for o in owners},
    )
    for o in owners:
        o.rank = ranks[o.id]
    best = combined_owners(ok, shared, trainer.config.combine_top)
    s = coalitions.combined(frozenset(o.id for o in best))
    if progress:
        progress("combined model", 1, 1)
    combined = {
        "owners": [o.id for o in best],
        "shared": sum(o.shared for o in best),
        "hard_accuracy": s.hard_accuracy,
        "test_accuracy": s.test_accuracy,
    }
    valuation = {
        "valuer": strategy.valuer.name,
        "retrains": coalitions.retrains,
        "converged": result.converged,
        **({"permutations": result.permutations} if result.permutations is not None else {}),
        **result.cost,
        "seconds": time.perf_counter() - start,
    }
    return combined, valuation
