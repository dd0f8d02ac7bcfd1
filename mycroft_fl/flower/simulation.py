"""Run a scenario on Flower's simulation engine (Ray), the trainer as ServerApp.

Flower's in-memory message store is scanned by every SuperNode every 0.1 s, each scan walking every
stored message: a pass costs nodes x messages (about 110 s at 10,000 owners). So a simulation runs at
most `max_nodes` SuperNodes, node k answering for owners k, k + nodes, ... of the scenario, each owner
with its own id, data, budget and self-check and its own part of the node's reply, checked on its own.
A real deployment has one SuperNode per owner.

The trainer scores the owners' subsets as Ray tasks (`ray_map`) on the nodes that offer a `trainer`
resource (a local instance offers `actors` of it; on a cluster, start workers with
`ray start --resources='{"trainer": N}'`), in-process when none does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TypeVar

from mycroft_fl.core.params import POSITIVE_INT, check_value
from mycroft_fl.core.progress import Progress, shows_progress
from mycroft_fl.scenarios.spec import Scenario
from mycroft_fl.trainer.acquisition import check_query
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.rounds import check_rounds
from mycroft_fl.trainer.strategy_config import StrategyConfig

T, R = TypeVar("T"), TypeVar("R")
TRAINER = "trainer"  # the Ray resource of the nodes where the trainer's scoring tasks run


@shows_progress
def simulate(
    scenario: Scenario,
    strategy: StrategyConfig,
    *,
    seed: int,
    progress: bool | Progress | None = None,
    actors: int = 2,
    reply_timeout: float = 3600.0,
    private: bool = False,
    allow_revealing: bool = False,
    rounds: int = 1,
    max_nodes: int = 100,
    ray_address: str | None = None,
) -> Report:
    """Value the scenario's owners with `strategy` on simulated Flower nodes, in `rounds`
    acquisition rounds (1: one query round).

    Parameters
    ----------
    scenario, strategy, seed, reply_timeout, private, allow_revealing, rounds
        As for `run_scenario`.
    progress : bool or callable, optional
        True: progress bars on stderr while it runs (as `value_owners`); a callable is called as
        `progress(stage, done, total)`. Default: none.
    actors : int
        CPUs of the local Ray instance, one client actor each (ignored on an existing cluster).
    max_nodes : int
        Simulated SuperNodes at most; with more owners, each node answers for several.
    ray_address : str, optional
        An existing Ray cluster to run on (`ray.init(address=...)`); None: `RAY_ADDRESS` when set,
        else a local Ray instance of `actors` CPUs.

    Returns
    -------
    Report
        The run's report.
    """
    check_rounds(strategy, rounds)
    check_value(max_nodes, POSITIVE_INT, "max_nodes")
    nodes = min(len(scenario.owners), max_nodes)
    address = ray_address or os.environ.get("RAY_ADDRESS")
    # ray.init refuses num_cpus when it joins a cluster: the cluster's resources are what it has
    ray_args = (
        {"address": address} if address else {"num_cpus": actors, "resources": {TRAINER: actors}}
    )
    scenario.trainer_data()
    scenario.owners_data()  # every file is checked here, before the engine starts
    check_query(
        strategy,
        scenario.trainer.embedder,
        private=private,
        allow_revealing=allow_revealing,
    )
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
            allow_revealing=allow_revealing,
            rounds=rounds,
            nodes=nodes,
            map_fn=ray_map,
        )

    flwr_logger = logging.getLogger("flwr")
    level = flwr_logger.level
    flwr_logger.setLevel(logging.CRITICAL + 1)
    try:
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=nodes,
            backend_config={
                "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                "init_args": {
                    **ray_args,
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


def ray_map(function: Callable[[T], R], items: list[T]) -> list[R]:
    """`map` as Ray tasks: the items in one batch per unit of the `trainer` resource, each task
    holding one unit and no CPU (client actors hold the CPUs for the whole run); in-process when
    Ray is not running or no node offers the resource.

    Parameters
    ----------
    function : callable
        Called on each item; sent once, unpickled once per batch.
    items : list
        The arguments.

    Returns
    -------
    list
        `function(item)` for every item, in order.
    """
    import ray

    slots = int(ray.cluster_resources().get(TRAINER, 0)) if ray.is_initialized() else 0
    if not items or not slots:
        return list(map(function, items))
    shared = ray.put(function)
    task = ray.remote(num_cpus=0, resources={TRAINER: 1})(_batch)
    size = -(-len(items) // slots)
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    return [r for batch in ray.get([task.remote(shared, b) for b in batches]) for r in batch]


def _batch(function: Callable[[T], R], items: list[T]) -> list[R]:
    """`function` on every item, on one torch thread (the trainer's small models train fastest so)."""
    import torch

    torch.set_num_threads(1)
    return [function(item) for item in items]
