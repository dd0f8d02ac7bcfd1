"""`MycroftStrategy`: the trainer's side of Mycroft as a Flower strategy, usable in any ServerApp.

`run(grid)` is one query round: wait for the owners (with a deadline), send each the query (model
weights, hard query samples, method, budget), collect the replies (with a timeout), check every
reply, then value and rank the owners with the engine and train the combined model. `start(grid, ...,
num_rounds=R)`, Flower's entry point, runs up to R such rounds, sharing each owner's budget over them
(`trainer.rounds`), and returns Flower's `Result`. An owner that raises, times out or sends a
malformed reply is reported `failed` or `rejected` with its reason; the run goes on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Result, Strategy

from mycroft_fl.core.data import TrainerData
from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import Classifier, get_weights
from mycroft_fl.core.params import POSITIVE, POSITIVE_INT, AnyOf, Names, check_params, check_value
from mycroft_fl.core.progress import Progress
from mycroft_fl.flower.protocol import (
    MESSAGE_TYPE,
    for_owners,
    owner_parts,
    query_content,
    short_reason,
)
from mycroft_fl.scenarios.spec import find_scenario
from mycroft_fl.trainer.coalitions import MapFunction
from mycroft_fl.trainer.in_process import collect_reply
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.rounds import Rounds
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig
from mycroft_fl.trainer.valuation import value_owners_subsets

_log = logging.getLogger("mycroft_fl")
_flwr_log = logging.getLogger("flwr")  # where Flower logs its own strategies


class MycroftStrategy(Strategy):
    """Value and rank data owners who answer a Mycroft query, in any Flower ServerApp.

    ```python
    strategy = MycroftStrategy(trainer_data, strategy="mycroft", budget=32, owners=["clinic-a", "clinic-b"])
    report = strategy.run(grid)          # report.to_dict() is report.json
    result = strategy.start(grid, num_rounds=2)   # Flower's Result; the report in strategy.report
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
    nodes : int, optional
        Simulation only: the scenario's owners are served by this many nodes, the k-th node (by id)
        answering for owners k, k + nodes, ... of `owners` (named), each in its own part of the
        node's reply, checked on its own. None: one node per owner, as in a real deployment.
    map_fn : callable
        `map(function, items)` through which the owners' subsets are trained in `run()` (the
        builtin; `simulation.ray_map` spreads them over a Ray cluster).
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
        self.expected = list(owners) if isinstance(owners, (list, tuple)) else []
        self.num_owners = len(self.expected) if self.expected else int(owners)
        self.scenario = str(find_scenario(scenario).resolve()) if scenario else ""
        self.name = name
        self.wait_timeout, self.reply_timeout, self.poll_interval = (
            wait_timeout,
            reply_timeout,
            poll_interval,
        )
        self.progress = progress
        self.private = private
        if nodes is not None:
            check_value(nodes, POSITIVE_INT, "MycroftStrategy: nodes")
            if not self.expected:
                raise InputError("MycroftStrategy: nodes needs the owners by name")
        self.nodes = nodes
        if max_in_flight is not None:
            check_value(max_in_flight, POSITIVE_INT, "MycroftStrategy: max_in_flight")
        self.max_in_flight = max_in_flight
        self.map_fn = map_fn
        self.number = {o: i for i, o in enumerate(self.expected)}  # an owner's number
        self.report: Report | None = None  # the last start()'s report

    # Flower's train/evaluate hooks drive FedAvg-like rounds; Mycroft's rounds are query rounds.
    def configure_train(self, server_round, arrays, config, grid) -> Iterable[Message]:
        raise NotImplementedError(_NO_TRAIN_ROUNDS)

    def aggregate_train(self, server_round, replies):
        raise NotImplementedError(_NO_TRAIN_ROUNDS)

    def configure_evaluate(self, server_round, arrays, config, grid) -> Iterable[Message]:
        raise NotImplementedError(_NO_TRAIN_ROUNDS)

    def aggregate_evaluate(self, server_round, replies):
        raise NotImplementedError(_NO_TRAIN_ROUNDS)

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
            ", ".join(self.expected) if self.expected else f"{self.num_owners} owner(s)",
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
        """Run up to `num_rounds` acquisition rounds, then value every owner's data (`trainer.rounds`).

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
            and what owners' subsets fine-tune); they must fit the model. None: the trainer trains
            its baseline on its training set, as `run()` does.
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
        self.summary()
        initial = (
            None if initial_arrays is None else {k: v.numpy() for k, v in initial_arrays.items()}
        )
        trainer = Trainer(self.trainer_data, self.trainer_config, seed=self.seed, initial=initial)
        rounds = Rounds(trainer, self.config, num_rounds, private=self.private)
        result = Result()
        control = trainer.control
        result.evaluate_metrics_serverapp[0] = _evaluated(
            {"hard_accuracy": control.hard_accuracy, "test_accuracy": control.test_accuracy},
            evaluate_fn,
            0,
            initial_arrays or _arrays(trainer.baseline),
        )
        nodes = self._wait_for_nodes(grid)
        node_of: dict[str, int] = {}
        timeout = self.reply_timeout if timeout is None else timeout
        received = 0
        while not rounds.done:
            r = rounds.round + 1
            stage = f"querying owners, round {r}/{num_rounds}"
            if r == 1:
                content = query_content(rounds.query(), scenario=self.scenario)
                replies = self._send_and_receive(
                    grid, self._messages(content, nodes), timeout, stage
                )
                results, picks, node_of = self._owner_results(
                    trainer, nodes, replies, rounds.reply_config(), timeout
                )
            else:
                asked = {o: node_of[o] for o in rounds.asks}
                messages = {
                    o: self._message(
                        self._for(query_content(rounds.query(o), scenario=self.scenario), o), n
                    )
                    for o, n in asked.items()
                }
                replies = self._send_and_receive(grid, messages, timeout, stage)
                results, picks = self._later_results(trainer, rounds, asked, replies, timeout)
            record = rounds.receive(results, picks, progress=self.progress)
            received += record["received"]
            c = record["combined"]
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
                _arrays(rounds.combined_model()) if evaluate_fn else None,
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
        result.arrays = _arrays(rounds.combined_model())
        self.report = rounds.report(self.name, {"total_s": time.perf_counter() - begin})
        return result

    def run(self, grid: Grid) -> Report:
        """Query the owners, check their replies, value and rank them.

        Parameters
        ----------
        grid : Grid
            The ServerApp's grid, whose nodes are the owners.

        Returns
        -------
        Report
            Every expected owner's result (ok, rejected or failed, with its reason), ranks, the
            combined model's figures and timings; `Report.to_dict()` is report.json.
        """
        start = time.perf_counter()
        trainer = Trainer(self.trainer_data, self.trainer_config, seed=self.seed)
        query = trainer.query(self.config, private=self.private)
        nodes = self._wait_for_nodes(grid)
        content = query_content(query, scenario=self.scenario)
        messages = self._messages(content, nodes)
        replies = self._send_and_receive(grid, messages, self.reply_timeout, "querying owners")
        t_replies = time.perf_counter()
        results, _, _ = self._owner_results(
            trainer, nodes, replies, self.config, self.reply_timeout
        )
        combined, valuation = value_owners_subsets(
            trainer, results, self.config, progress=self.progress, map_fn=self.map_fn
        )
        now = time.perf_counter()
        return Report(
            scenario=self.name,
            strategy=self.config,
            seed=self.seed,
            private=self.private,
            trainer=trainer.summary(),
            owners=results,
            combined=combined,
            valuation=valuation,
            timings={
                "total_s": now - start,
                "query_s": t_replies - start,
                "valuation_s": now - t_replies,
            },
        )

    def _wait_for_nodes(self, grid: Grid) -> list[int]:
        """The nodes up once `num_owners` are, or at the deadline; says at once when some are missing
        (in simulation, fewer nodes than owners never catch up), then shows the waiting as progress."""
        deadline = time.monotonic() + self.wait_timeout
        shown = None
        while True:
            nodes = sorted(grid.get_node_ids())
            if len(nodes) >= (self.nodes or self.num_owners) or time.monotonic() >= deadline:
                return nodes
            if shown is None:
                _log.warning(
                    "mycroft-fl: %d node(s) up but %d %s expected; waiting up to %g s for the rest",
                    len(nodes),
                    self.nodes or self.num_owners,
                    "nodes" if self.nodes else "owners",
                    self.wait_timeout,
                )
            if self.progress and shown != len(nodes):
                self.progress("waiting for owners", len(nodes), self.nodes or self.num_owners)
            shown = len(nodes)
            time.sleep(self.poll_interval)

    def _served(self, nodes: list[int]) -> dict[int, list[int]]:
        """The owners (by number) each node answers for: its own (one node per owner), or owners
        k, k + len(nodes), ... for the k-th node when nodes are shared (simulation)."""
        if self.nodes is None:
            return {}
        return {n: list(range(k, self.num_owners, len(nodes))) for k, n in enumerate(nodes)}

    def _messages(self, content: RecordDict, nodes: list[int]) -> dict[int, Message]:
        """The query for every node, with the owners it answers for when nodes are shared."""
        served = self._served(nodes)
        return {
            n: self._message(for_owners(content, served[n]) if served else content, n)
            for n in nodes
        }

    def _for(self, content: RecordDict, owner_id: str) -> RecordDict:
        """An owner's own query, naming it by number when nodes are shared."""
        return for_owners(content, [self.number[owner_id]]) if self.nodes else content

    @staticmethod
    def _message(content: RecordDict, node: int) -> Message:
        return Message(
            content, dst_node_id=node, message_type=MESSAGE_TYPE, group_id="mycroft-select"
        )

    def _send_and_receive(self, grid: Grid, messages: dict, timeout: float, stage: str) -> dict:
        """Push the messages (at most `max_in_flight` awaiting replies at once) and pull replies
        until all are in or `timeout` passes, showing progress; the replies keyed as their
        messages."""
        unsent = list(messages)
        key_of: dict = {}  # message id -> its key in `messages`
        pending: set[str] = set()
        replies: dict[int, Message] = {}
        deadline = time.monotonic() + timeout
        while True:
            n = len(unsent) if self.max_in_flight is None else self.max_in_flight - len(pending)
            if n > 0 and unsent:
                batch, unsent = unsent[:n], unsent[n:]
                ids = list(grid.push_messages([messages[k] for k in batch]))
                key_of.update(zip(ids, batch))
                pending.update(ids)
            if not pending or time.monotonic() >= deadline:
                return replies
            pulled = list(grid.pull_messages(pending))
            for reply in pulled:
                mid = reply.metadata.reply_to_message_id
                if mid in pending:
                    pending.discard(mid)
                    replies[key_of[mid]] = reply
            if self.progress and pulled:
                self.progress(stage, len(replies), len(messages))
            if pending and not pulled:
                time.sleep(self.poll_interval)

    def _owner_results(
        self,
        trainer: Trainer,
        nodes: list[int],
        replies: dict[int, Message],
        config: StrategyConfig,
        timeout: float,
    ) -> tuple[list[OwnerResult], dict[str, np.ndarray], dict[str, int]]:
        """Every expected owner's checked reply to the query all nodes got; the indices each ok
        owner sent; the node each named owner answered from."""
        results: dict[str, OwnerResult] = {}
        picks: dict[str, np.ndarray] = {}
        node_of: dict[str, int] = {}
        anonymous: list[OwnerResult] = []  # failed without saying which owner they are
        for node, owners in self._served(nodes).items():
            parts = self._parts(replies.get(node))
            for owner in owners:
                owner_id = self.expected[owner]
                results[owner_id], indices = self._part(
                    trainer, node, replies.get(node), parts, owner, config, timeout
                )
                node_of[owner_id] = node
                if results[owner_id].status == "ok":
                    picks[owner_id] = indices
        results = {o: results[o] for o in self.expected if o in results}  # in the owners' order
        for node in nodes if self.nodes is None else ():
            reply = replies.get(node)
            indices = None
            result, indices = self._check(trainer, node, reply, config, timeout)
            if result.id == f"node-{node}":
                anonymous.append(result)
            elif result.id in results:
                results[f"node-{node}"] = OwnerResult(
                    f"node-{node}",
                    status="rejected",
                    reason=f"owner id {result.id!r} already answered from another node",
                )
            else:
                results[result.id] = result
                node_of[result.id] = node
                if result.status == "ok":
                    picks[result.id] = indices
        missing = [o for o in self.expected if o not in results]
        if len(anonymous) == 1 and len(missing) == 1:  # only one owner it can be
            anonymous[0].id = missing.pop()
        results.update((r.id, r) for r in anonymous)
        never = f"never connected within {self.wait_timeout:g} s"
        if anonymous:  # one of them may be this owner: say so, but report every owner missing
            nodes = ", ".join(r.id for r in anonymous)
            never = (
                f"no reply under this name: {nodes} failed without naming its owner, or it {never}"
            )
        for owner_id in missing:
            results[owner_id] = OwnerResult(owner_id, status="failed", reason=never)
        return list(results.values()), picks, node_of

    def _later_results(
        self,
        trainer: Trainer,
        rounds: Rounds,
        asked: dict[str, int],
        replies: dict[str, Message],
        timeout: float,
    ) -> tuple[list[OwnerResult], dict[str, np.ndarray]]:
        """The checked replies of a later round, to the owners asked (with their nodes); a reply
        under another owner's name is rejected."""
        results, picks = [], {}
        for owner_id, node in asked.items():
            reply, config = replies.get(owner_id), rounds.reply_config(owner_id)
            if self.nodes is None:
                result, indices = _as_owner(
                    owner_id, *self._check(trainer, node, reply, config, timeout)
                )
            else:
                owner = self.number[owner_id]
                parts = self._parts(reply)
                result, indices = self._part(trainer, node, reply, parts, owner, config, timeout)
            if result.status == "ok":
                picks[owner_id] = indices
            results.append(result)
        return results, picks

    @staticmethod
    def _parts(reply: Message | None) -> dict[int, RecordDict]:
        """A shared node's reply split by owner number (nothing when it failed or never came)."""
        return {} if reply is None or reply.has_error() else owner_parts(reply.content)

    def _part(
        self,
        trainer: Trainer,
        node: int,
        reply: Message | None,
        parts: dict[int, RecordDict],
        owner: int,
        config: StrategyConfig,
        timeout: float,
    ) -> tuple[OwnerResult, np.ndarray | None]:
        """Owner number `owner`'s part of a shared node's reply, checked on its own: one owner's
        malformed part rejects only that owner."""
        owner_id = self.expected[owner]
        if reply is None or reply.has_error():
            return _as_owner(owner_id, *self._check(trainer, node, reply, config, timeout))
        if owner not in parts:
            return OwnerResult(owner_id, status="rejected", reason="reply has no part for it"), None
        return _as_owner(owner_id, *self._content(trainer, owner_id, parts[owner], config))

    def _check(
        self,
        trainer: Trainer,
        node: int,
        reply: Message | None,
        config: StrategyConfig,
        timeout: float,
    ) -> tuple[OwnerResult, np.ndarray | None]:
        """A node's reply checked against `config`, and the owner indices it sent (when it
        has them)."""
        fallback = f"node-{node}"
        if reply is None:
            reason = f"no reply within {timeout:g} s"
            return OwnerResult(fallback, status="failed", reason=reason), None
        if reply.has_error():
            reason = short_reason(reply.error.reason)
            return OwnerResult(fallback, status="failed", reason=reason), None
        return self._content(trainer, fallback, reply.content, config)

    @staticmethod
    def _content(
        trainer: Trainer, fallback: str, content: RecordDict, config: StrategyConfig
    ) -> tuple[OwnerResult, np.ndarray | None]:
        """One owner's reply records checked against `config` (`fallback`: its id when they do
        not say), and the owner indices it sent (when it has them)."""
        info = content.config_records.get("info") or ConfigRecord()
        owner_id = info.get("owner_id")
        if not isinstance(owner_id, str) or not owner_id:
            reason = "reply does not say which owner sent it"
            return OwnerResult(fallback, status="rejected", reason=reason), None
        if "error" in info:
            reason = short_reason(str(info["error"]))
            return OwnerResult(owner_id, status="failed", reason=reason), None
        subset = content.array_records.get("subset")
        if subset is None:
            reason = "reply has no 'subset' record"
            return OwnerResult(owner_id, status="rejected", reason=reason), None
        metrics = content.metric_records.get("metrics") or MetricRecord()
        try:
            arrays = {
                k: subset[k].numpy() if k in subset else None
                for k in ("x", "y", "indices", "audit_x", "audit_y", "histogram")
            }
        except Exception as exc:  # a record Flower accepted but numpy cannot read
            reason = f"unreadable array ({exc})"
            return OwnerResult(owner_id, status="rejected", reason=reason), None
        result = collect_reply(
            owner_id,
            config,
            trainer,
            arrays["x"],
            arrays["y"],
            arrays["indices"],
            selection_s=_number(metrics.get("selection_s")),
            local_size=metrics.get("local_size"),
            audit_x=arrays["audit_x"],
            audit_y=arrays["audit_y"],
            histogram=arrays["histogram"],
        )
        return result, arrays["indices"]


_NO_TRAIN_ROUNDS = (
    "MycroftStrategy has no Flower train/evaluate rounds: its owners answer query.select "
    "messages; call start(grid, initial_arrays, num_rounds=R) for R acquisition rounds, or "
    "run(grid) for one query round"
)


def _as_owner(
    owner_id: str, result: OwnerResult, indices: np.ndarray | None
) -> tuple[OwnerResult, np.ndarray | None]:
    """A result reported under the owner it was asked of: a reply under another name is rejected,
    a failure keeps its reason."""
    if result.id == owner_id:
        return result, indices
    failed = result.status == "failed"
    return OwnerResult(
        owner_id,
        status="failed" if failed else "rejected",
        reason=result.reason if failed else f"replied as {result.id!r}",
        received=result.received,
    ), None


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


def _number(value: object) -> float | None:
    """A finite number from a reply's metrics, else None (report.json must stay valid JSON)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None
