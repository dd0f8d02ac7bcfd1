"""The trainer as a Flower ServerApp: `flwr run .` values the owners of a scenario.

run_config keys (pyproject `[tool.flwr.app.config]`, override with `flwr run . -c "key=value"`):
`scenario` (a shipped name, or a path: absolute, or relative to the app), `strategy` (preset name or file),
`budget` (0 = the strategy's), `seed` (-1 = the scenario's), `out` (directory for the report),
`wait-timeout` and `reply-timeout` (seconds), `private` (true: no raw hard sample leaves the trainer),
`allow-revealing-embedder` (with `private`: send embeddings that give the samples back anyway),
`audit-key` (the key the audit's rows are drawn with; -1: a secret one, drawn for the run and
recorded in report.json),
`rounds` (acquisition rounds sharing each owner's budget, `MycroftStrategy.start`; 1: one query round),
`max-in-flight` (at most this many owners asked at once, the next as soon as one answers; 0: all at once).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

import torch
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.params import (
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    Boolean,
    Interval,
    Text,
    check_params,
)
from mycroft_fl.core.progress import Progress, ProgressLine
from mycroft_fl.core.resources import find_shipped
from mycroft_fl.flower.strategy import MycroftStrategy
from mycroft_fl.scenarios.spec import Scenario, load_scenario
from mycroft_fl.trainer.coalitions import MapFunction
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.strategy_config import StrategyConfig, load_strategy

APP_DIR = (
    Path(__file__).resolve().parent.parent.parent
)  # the app: a checkout or a Flower app bundle

app = ServerApp()

# run_config keys, their rules and defaults (the same as pyproject's [tool.flwr.app.config])
RUN_CONFIG = {
    "scenario": Text(),
    "strategy": Text(),
    "budget": NON_NEGATIVE_INT,
    "seed": Interval(int, -1, None),
    "out": Text(),
    "wait-timeout": POSITIVE,
    "reply-timeout": POSITIVE,
    "private": Boolean(),
    "allow-revealing-embedder": Boolean(),
    "audit-key": Interval(int, -1, 2**63 - 1),
    "rounds": POSITIVE_INT,
    "max-in-flight": NON_NEGATIVE_INT,
}
RUN_DEFAULTS = {
    "scenario": "digits",
    "strategy": "mycroft",
    "budget": 0,
    "seed": -1,
    "out": "runs/flwr",
    "wait-timeout": 120.0,
    "reply-timeout": 900.0,
    "private": False,
    "allow-revealing-embedder": False,
    "audit-key": -1,
    "rounds": 1,
    "max-in-flight": 0,
}


def run_scenario(
    grid: Grid,
    scenario: Scenario,
    strategy: StrategyConfig,
    *,
    seed: int,
    progress: Progress | None = None,
    wait_timeout: float = 120.0,
    reply_timeout: float = 900.0,
    private: bool = False,
    allow_revealing: bool = False,
    rounds: int = 1,
    nodes: int | None = None,
    map_fn: MapFunction = map,
    max_in_flight: int | None = None,
    audit_key: int | None = None,
) -> Report:
    """Value the scenario's owners, who answer as Flower nodes on `grid`, in up to `rounds`
    acquisition rounds sharing each owner's budget (`MycroftStrategy.start`; 1: one query round);
    `nodes` simulated nodes serve all owners (None: one node per owner); owners' subsets are trained
    through `map_fn`; at most `max_in_flight` owners are asked at once (None: all); the audit draws
    its rows with `audit_key` (None: derived from the seed)."""
    # The trainer's small models train several times faster on one thread than competing for the
    # cores with Flower's own processes (digits: valuation 40 s -> 14 s in simulation, 10.6 s -> 2.4 s
    # for the trainer on a loopback deployment).
    torch.set_num_threads(1)
    strategy = MycroftStrategy(
        scenario.trainer_data(),
        strategy=strategy,
        seed=seed,
        trainer=scenario.trainer,
        owners=scenario.owner_ids,
        scenario=str(scenario.path),
        name=scenario.name,
        wait_timeout=wait_timeout,
        reply_timeout=reply_timeout,
        progress=progress,
        private=private,
        allow_revealing=allow_revealing,
        audit_key=audit_key,
        nodes=nodes,
        map_fn=map_fn,
        max_in_flight=max_in_flight,
    )
    strategy.start(grid, num_rounds=rounds)
    return strategy.report


def check_run_config(run_config: Mapping[str, object]) -> dict[str, object]:
    """The run config with defaults filled in, every key known and every value valid.

    Parameters
    ----------
    run_config : mapping
        `context.run_config`: pyproject's `[tool.flwr.app.config]` with the `-c` overrides (empty
        under `run_simulation`).

    Returns
    -------
    dict
        Every key of `RUN_CONFIG`.

    Raises
    ------
    InputError
        One line naming the first unknown key or bad value.
    """
    unknown = sorted(set(run_config) - set(RUN_CONFIG))
    if unknown:
        raise InputError(f"run config: unknown key {unknown[0]!r} (keys: {', '.join(RUN_CONFIG)})")
    values = {**RUN_DEFAULTS, **run_config}
    check_params(values, RUN_CONFIG, where="run config: ")
    return values


def scenario_location(value: str) -> str | Path:
    """Where the run config's `scenario` is: a shipped scenario by name (`clinics`, or the app's
    `simulations/clinics.toml`), found among the installed package's files with its data; else a path,
    absolute or relative to the app directory (a Flower app bundle carries TOML files, not data: a
    scenario of your own with data files needs an absolute path).

    Parameters
    ----------
    value : str
        The run config's `scenario`.

    Returns
    -------
    str or Path
        What `load_scenario` takes: a shipped name, or the scenario file's path.
    """
    path = Path(value)
    if len(path.parts) == 1 and path.suffix != ".toml":
        return value
    if path.parent == Path("simulations") and find_shipped("simulations", path.stem):
        return path.stem
    return path if path.is_absolute() else APP_DIR / path


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = check_run_config(context.run_config)
    scenario = load_scenario(scenario_location(str(cfg["scenario"])))
    strategy = load_strategy(str(cfg["strategy"]), budget=int(cfg["budget"]) or None)
    seed = int(cfg["seed"])
    report = run_scenario(
        grid,
        scenario,
        strategy,
        seed=scenario.seed if seed < 0 else seed,
        progress=ProgressLine(),
        wait_timeout=float(cfg["wait-timeout"]),
        reply_timeout=float(cfg["reply-timeout"]),
        private=bool(cfg["private"]),
        allow_revealing=bool(cfg["allow-revealing-embedder"]),
        audit_key=secrets.randbits(63) if int(cfg["audit-key"]) < 0 else int(cfg["audit-key"]),
        rounds=int(cfg["rounds"]),
        max_in_flight=int(cfg["max-in-flight"]) or None,
    )
    out = Path(str(cfg["out"]))
    path = report.write(out if out.is_absolute() else Path.cwd() / out)
    if report.rounds:
        print("\n".join(report.rounds_lines()))
    print(report.table())
    print(f"report: {path}")
