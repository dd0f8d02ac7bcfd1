"""Run a scenario on Flower's simulation engine (Ray): one SuperNode per owner, the trainer as ServerApp."""

from __future__ import annotations

import logging
import os

from mycroft_fl.core.progress import Progress
from mycroft_fl.scenarios.spec import Scenario
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.rounds import check_rounds
from mycroft_fl.trainer.strategy_config import StrategyConfig


def simulate(
    scenario: Scenario,
    strategy: StrategyConfig,
    *,
    seed: int,
    progress: Progress | None = None,
    actors: int = 2,
    reply_timeout: float = 3600.0,
    private: bool = False,
    rounds: int = 1,
) -> Report:
    """Value the scenario's owners with `strategy`, each owner a simulated Flower node, in `rounds`
    acquisition rounds (1: one query round)."""
    check_rounds(strategy, rounds)
    scenario.trainer_data()
    scenario.owners_data()  # every file is checked here, before the engine starts
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from mycroft_fl.flower.client_app import app as client_app
    from mycroft_fl.flower.server_app import run_scenario

    result: dict[str, Report] = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid, context) -> None:
        result["report"] = run_scenario(
            grid,
            scenario,
            strategy,
            seed=seed,
            progress=progress,
            reply_timeout=reply_timeout,
            private=private,
            rounds=rounds,
        )

    flwr_logger = logging.getLogger("flwr")
    level = flwr_logger.level
    flwr_logger.setLevel(logging.CRITICAL + 1)
    try:
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=len(scenario.owners),
            backend_config={
                "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                "init_args": {
                    "num_cpus": actors,
                    "logging_level": "ERROR",
                    "log_to_driver": False,
                    "include_dashboard": False,
                },
            },
        )
    finally:
        flwr_logger.setLevel(level)
    if "report" not in result:
        raise RuntimeError("the simulation ended without a report (see Flower's log above)")
    return result["report"]
