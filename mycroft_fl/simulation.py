"""Run a scenario end to end and return its report."""

from __future__ import annotations

from .api import value_owners
from .presets import StrategyConfig
from .report import Report
from .scenario import Scenario
from .valuation import Progress


def simulate(scenario: Scenario, strategy: StrategyConfig, *, seed: int, progress: Progress | None = None) -> Report:
    """Value the scenario's owners with `strategy` (in-process until the Flower engine takes over)."""
    return value_owners(scenario.trainer_data(), scenario.owners_data(), strategy=strategy, seed=seed,
                        trainer=scenario.trainer, scenario=scenario.name, progress=progress)
