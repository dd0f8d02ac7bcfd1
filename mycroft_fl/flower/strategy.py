"""`MycroftStrategy`: the trainer's side of Mycroft in any Flower ServerApp.

A thin wrapper over the acquisition engine (`trainer.acquisition`) with the Flower transport
(`flower.transport`): `start(grid, ..., num_rounds=R)`, Flower's entry point, runs up to R query
rounds sharing each owner's budget and returns Flower's `Result`; `run(grid)` is one round and
returns the report. An owner that raises, times out or sends a malformed reply is reported `failed`
or `rejected` with its reason; the run goes on.

It keeps Flower's `start()` signature and `Result`, but it is not a `flwr.serverapp.strategy.Strategy`:
its owners answer `query.select` messages, not Flower's train/evaluate rounds, so it has none of
their hooks (`configure_train`, `aggregate_train`, ...).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Result

from mycroft_fl.core.data import TrainerData
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import Classifier, get_weights
from mycroft_fl.core.params import POSITIVE, POSITIVE_INT, AnyOf, Names, check_params, check_value
from mycroft_fl.core.progress import Progress
from mycroft_fl.flower.transport import FlowerOwners
from mycroft_fl.scenarios.spec import find_scenario
from mycroft_fl.trainer.acquisition import Acquisition
from mycroft_fl.trainer.coalitions import MapFunction
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig

_flwr_log = logging.getLogger("flwr")  # where Flower logs its own strategies


class MycroftStrategy:
    """Value and rank data owners who answer a Mycroft query, in any Flower ServerApp.

    ```python
    strategy = MycroftStrategy(trainer_data, strategy="mycroft", budget=32, owners=["clinic-a", "clinic-b"])
    result = strategy.start(grid, num_rounds=2)   # Flower's Result; the report in strategy.report
    report = strategy.run(grid)                   # one round; report.to_dict() is report.json
    ```

    Parameters
    ----------
    trainer_data : TrainerData
        The trainer's train, validation (hard samples are found here) and test data.
    strategy : str or StrategyConfig
        A preset name or file (`strategies/*.toml`), or a resolved configuration.
    budget : int, optional
        Samples each owner may share; None keeps the preset's.
    seed : int
        Seed of the trainer's training and of the owners' selection.
    trainer : TrainerConfig, optional
        The trainer's model, embedder and training settings.
    owners : int or list of str
        How many owners to wait for, or their distinct ids (then an owner that never answers is
        reported by name).
    scenario : str
        A scenario file or shipped name, for simulated owners only: a node without `data-path`
        builds its data as owner number `partition-id` of this scenario. Sent as an absolute path.
    name : str
        The run's name in the report.
    wait_timeout, reply_timeout, poll_interval : float
        Seconds to wait for the owners' nodes, for their replies, and between polls.
    progress : callable, optional
        Called as `progress(stage, done, total)` while waiting for nodes, replies and valuation.
    private : bool
        Keep the hard samples with the trainer: the query carries their per-class gradient targets
        and embeddings instead.
    allow_revealing : bool
        Send a private query even with an embedder whose embeddings give the hard samples back
        (refused otherwise; the report records it).
    audit_key : int, optional
        The key the audit's rows are drawn with, after the owners committed (recorded in the
        report). None: derived from `seed`; give a secret one (`secrets.randbits(63)`) when owners
        might guess the seed.
    nodes : int, optional
        Simulation only: the scenario's owners are served by this many nodes, the k-th node (by id)
        answering for owners k, k + nodes, ... of `owners` (named), each in its own part of the
        node's reply, checked on its own. None: one node per owner, as in a real deployment.
    map_fn : callable
        `map(function, items)` through which the owners' data are trained (the builtin;
        `simulation.ray_map` spreads them over a Ray cluster), in every round.
    max_in_flight : int, optional
        At most this many queries out at once: the next owner is asked as soon as one answers
        (the reply timeout still covers the whole round). None: all at once. For many SuperNodes
        on one machine, where every query starts a ClientApp process (see the README's
        deployment notes).
    """

    constraints = {
        "owners": AnyOf((POSITIVE_INT, Names())),
        "wait_timeout": POSITIVE,
        "reply_timeout": POSITIVE,
        "poll_interval": POSITIVE,
    }

    def __init__(
        self,
        trainer_data: TrainerData,
        *,
        strategy: str | StrategyConfig = "mycroft",
        budget: int | None = None,
        seed: int = 0,
        trainer: TrainerConfig | None = None,
        owners: Sequence[str] | int = 1,
        scenario: str = "",
        name: str = "flower",
        wait_timeout: float = 120.0,
        reply_timeout: float = 900.0,
        poll_interval: float = 0.2,
        progress: Progress | None = None,
        private: bool = False,
        allow_revealing: bool = False,
        audit_key: int | None = None,
        nodes: int | None = None,
        map_fn: MapFunction = map,
        max_in_flight: int | None = None,
    ):
        check_params(
            {
                "owners": owners,
                "wait_timeout": wait_timeout,
                "reply_timeout": reply_timeout,
                "poll_interval": poll_interval,
            },
            self.constraints,
            where="MycroftStrategy: ",
        )
        self.trainer_data = trainer_data
        self.config = resolve_strategy(strategy, budget)
        self.seed = seed
        self.trainer_config = trainer
        self.owners = list(owners) if isinstance(owners, (list, tuple)) else int(owners)
        self.scenario = str(find_scenario(scenario).resolve()) if scenario else ""
        self.name = name
        self.wait_timeout, self.reply_timeout, self.poll_interval = (
            wait_timeout,
            reply_timeout,
            poll_interval,
        )
        self.progress = progress
        self.private, self.allow_revealing, self.audit_key = private, allow_revealing, audit_key
        if nodes is not None:
            check_value(nodes, POSITIVE_INT, "MycroftStrategy: nodes")
            if not isinstance(self.owners, list):
                raise InputError("MycroftStrategy: nodes needs the owners by name")
        self.nodes = nodes
        if max_in_flight is not None:
            check_value(max_in_flight, POSITIVE_INT, "MycroftStrategy: max_in_flight")
        self.max_in_flight = max_in_flight
        self.map_fn = map_fn
        self.report: Report | None = None  # the last start()'s report

    def summary(self) -> None:
        """Log the strategy's settings on Flower's logger, as Flower's strategies do."""
        c = self.config
        _flwr_log.info(
            "MycroftStrategy: strategy %s (selector %s, valuer %s), budget %d per owner, seed %d, "
            "%s, reply timeout %g s%s",
            c.name,
            c.selector.name,
            c.valuer.name,
            c.budget,
            self.seed,
            ", ".join(self.owners) if isinstance(self.owners, list) else f"{self.owners} owner(s)",
            self.reply_timeout,
            ", private query" if self.private else "",
        )

    def start(
        self,
        grid: Grid,
        initial_arrays: ArrayRecord | None = None,
        num_rounds: int = 3,
        timeout: float | None = None,
        train_config: ConfigRecord | None = None,
        evaluate_config: ConfigRecord | None = None,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None,
    ) -> Result:
        """Run up to `num_rounds` acquisition rounds, then value every owner's data
        (`trainer.acquisition`).

        Round 1 asks every owner for `budget // num_rounds` samples; later rounds send the owners
        that proved useful the combined model and the hard query samples it still gets wrong, and
        ask them for more of their budget, never for a sample they already sent. No owner shares
        more than `budget` in all. The report (with every round) is kept in `self.report`.

        Parameters
        ----------
        grid : Grid
            The ServerApp's grid, whose nodes are the owners.
        initial_arrays : ArrayRecord, optional
            Weights of the trainer's model to start from (its baseline: what finds the hard samples
            and what owners' subsets fine-tune); they must fit the model. None or an empty
            ArrayRecord: the trainer trains its baseline on its training set, as `run()` does.
        num_rounds : int
            Acquisition rounds at most (>= 1); fewer when no owner is left to ask or the combined
            model gets every hard query sample right.
        timeout : float, optional
            Seconds to wait for each round's replies; None: the strategy's `reply_timeout`.
        train_config, evaluate_config : ConfigRecord, optional
            Must be None or empty: the query carries the strategy's settings.
        evaluate_fn : callable, optional
            As in Flower: called as `evaluate_fn(round, arrays)` with the initial weights (round
            0) and the combined model after every round; its metrics join
            `evaluate_metrics_serverapp`.

        Returns
        -------
        Result
            `arrays`: the final combined model's weights (load them into the trainer's model);
            `train_metrics_clientapp[r]`: samples asked for, sent and received in round r;
            `evaluate_metrics_serverapp[r]`: the combined model's held-out hard and test accuracy,
            the owner samples it was trained with (`shared`) and all samples received so far
            (round 0: the control, the same retraining with no owner data).
        """
        begin = time.perf_counter()
        check_value(num_rounds, POSITIVE_INT, "start: num_rounds")
        if timeout is not None:
            check_value(timeout, POSITIVE, "start: timeout")
        if initial_arrays is not None and not isinstance(initial_arrays, ArrayRecord):
            raise InputError(
                f"start: initial_arrays must be an ArrayRecord or None, got {type(initial_arrays).__name__}"
            )
        for name, value in (("train_config", train_config), ("evaluate_config", evaluate_config)):
            if value:
                raise InputError(
                    f"start: {name} must be None or empty: owners get the strategy's settings in "
                    "their query"
                )
        initial = {k: v.numpy() for k, v in initial_arrays.items()} if initial_arrays else None
        self.summary()
        trainer = Trainer(self.trainer_data, self.trainer_config, seed=self.seed, initial=initial)
        engine = self._engine(trainer, num_rounds)
        result = Result()
        control = trainer.control
        result.evaluate_metrics_serverapp[0] = _evaluated(
            {"hard_accuracy": control.hard_accuracy, "test_accuracy": control.test_accuracy},
            evaluate_fn,
            0,
            initial_arrays or _arrays(trainer.baseline),
        )
        received = 0

        def on_round(record: dict) -> None:
            nonlocal received
            r, c = record["round"], record["combined"]
            received += record["received"]
            result.train_metrics_clientapp[r] = MetricRecord(
                {k: record[k] for k in ("hard_query", "asked", "sent", "received")}
            )
            result.evaluate_metrics_serverapp[r] = _evaluated(
                {
                    "hard_accuracy": c["hard_accuracy"],
                    "test_accuracy": c["test_accuracy"],
                    "shared": c["shared"],
                    "received": received,
                },
                evaluate_fn,
                r,
                _arrays(engine.combined_model()) if evaluate_fn else None,
            )
            _flwr_log.info(
                "[ROUND %d/%d] asked %d, sent %d; combined model (%s): hard %.3f, test %.3f",
                r,
                num_rounds,
                record["asked"],
                record["sent"],
                ", ".join(c["owners"]) or "no owner",
                c["hard_accuracy"],
                c["test_accuracy"],
            )

        self.report = engine.run(self._transport(grid, timeout), on_round)
        self.report.timings["total_s"] = time.perf_counter() - begin
        result.arrays = _arrays(engine.combined_model())
        return result

    def run(self, grid: Grid) -> Report:
        """One query round: query the owners, check their replies, value and rank them.

        Parameters
        ----------
        grid : Grid
            The ServerApp's grid, whose nodes are the owners.

        Returns
        -------
        Report
            Every expected owner's result (ok, rejected or failed, with its reason), ranks, the
            combined model's figures and weights, and timings; `Report.to_dict()` is report.json.
        """
        start = time.perf_counter()
        trainer = Trainer(self.trainer_data, self.trainer_config, seed=self.seed)
        engine = self._engine(trainer, 1)
        report = engine.run(self._transport(grid))
        report.timings["total_s"] = time.perf_counter() - start
        return report

    def _engine(self, trainer: Trainer, num_rounds: int) -> Acquisition:
        return Acquisition(
            trainer,
            self.config,
            num_rounds,
            private=self.private,
            allow_revealing=self.allow_revealing,
            audit_key=self.audit_key,
            map_fn=self.map_fn,
            progress=self.progress,
            name=self.name,
        )

    def _transport(self, grid: Grid, timeout: float | None = None) -> FlowerOwners:
        return FlowerOwners(
            grid,
            owners=self.owners,
            nodes=self.nodes,
            scenario=self.scenario,
            wait_timeout=self.wait_timeout,
            reply_timeout=self.reply_timeout if timeout is None else timeout,
            poll_interval=self.poll_interval,
            max_in_flight=self.max_in_flight,
            progress=self.progress,
        )


def _arrays(model: Classifier) -> ArrayRecord:
    """A model's weights as Flower arrays (the names and arrays of `get_weights`)."""
    return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in get_weights(model).items()})


def _evaluated(
    metrics: dict,
    evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None,
    server_round: int,
    arrays: ArrayRecord | None,
) -> MetricRecord:
    """The round's server-side metrics, with the user's `evaluate_fn(round, arrays)` ones."""
    extra = evaluate_fn(server_round, arrays) if evaluate_fn else None
    return MetricRecord({**metrics, **(extra or {})})
