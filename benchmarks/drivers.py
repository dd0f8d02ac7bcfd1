"""Drivers for `compare` (`mycroft_fl.evaluation.comparison.Driver`): the benchmarks' ways of running a
strategy on a seed's fitted trainer, measured by compare's own protocol.

`Acquire` runs the acquisition engine in-process (`acquire`, compare's default) with keyword arguments
chosen by the strategy's name (`rounds=2` for a two-round variant, `private=True` for a private one),
and keeps what a benchmark wants of each run beyond compare's figures (`record`), by strategy, budget
(None: not budgeted) and seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

RecordFn = Callable[..., dict]


class Acquire:
    """compare's driver: `acquire` with `kwargs[config.name]`, recording `record(trainer, owners,
    config, report, **kwargs)` of every run in `records[(name, budget, seed)]`."""

    def __init__(self, kwargs: Mapping[str, Mapping] | None = None, record: RecordFn | None = None):
        self.kwargs = {k: dict(v) for k, v in (kwargs or {}).items()}
        self.record = record
        self.records: dict[tuple[str, int | None, int], dict] = {}

    def __call__(self, trainer, owners, config, *, scenario, progress, behaviours):
        from mycroft_fl.trainer.in_process import acquire

        kwargs = self.kwargs.get(config.name, {})
        report = acquire(
            trainer,
            owners,
            config,
            scenario=scenario,
            progress=progress,
            behaviours=behaviours,
            **kwargs,
        )
        if self.record is not None:
            budget = config.budget if config.budgeted else None
            self.records[(config.name, budget, trainer.seed)] = self.record(
                trainer, owners, config, report, **kwargs
            )
        return report

    def records_list(self) -> list[dict]:
        """The records as plain rows, each with its strategy, budget and seed."""
        return [
            {"strategy": s, "budget": b, "seed": seed, **r}
            for (s, b, seed), r in self.records.items()
        ]


def renamed(strategy, name: str, **selector):
    """A preset (by name or config) under another name, its selector's parameters replaced."""
    from mycroft_fl.trainer.strategy_config import resolve_strategy

    config = resolve_strategy(strategy)
    if selector:
        config = dataclasses.replace(
            config, selector=dataclasses.replace(config.selector, **selector)
        )
    return dataclasses.replace(config, name=name)


def lean_runs(doc: dict) -> dict:
    """compare.json's dict as a benchmark keeps it: without the package's definitions."""
    doc = dict(doc)
    doc.pop("definitions", None)
    return doc
