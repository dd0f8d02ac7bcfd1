"""`MycroftStrategy`: the trainer's side of Mycroft as a Flower strategy, usable in any ServerApp.

One query round: wait for the owners (with a deadline), send each the query (model weights, hard
query samples, method, budget), collect the replies (with a timeout), check every reply, then value
and rank the owners with the engine and train the combined model. An owner that raises, times out or
sends a malformed reply is reported `failed` or `rejected` with its reason; the run goes on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence

from flwr.app import ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from mycroft_fl.core.data import TrainerData
from mycroft_fl.core.params import POSITIVE, POSITIVE_INT, AnyOf, Names, check_params
from mycroft_fl.core.progress import Progress
from mycroft_fl.flower.protocol import MESSAGE_TYPE, query_content, short_reason
from mycroft_fl.scenarios.spec import find_scenario
from mycroft_fl.trainer.in_process import collect_reply
from mycroft_fl.trainer.report import Report
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig, resolve_strategy
from mycroft_fl.trainer.trainer import Trainer, TrainerConfig
from mycroft_fl.trainer.valuation import value_owners_subsets

_log = logging.getLogger("mycroft_fl")


class MycroftStrategy(Strategy):
    """Value and rank data owners who answer a Mycroft query, in any Flower ServerApp.

    ```python
    strategy = MycroftStrategy(trainer_data, strategy="mycroft", budget=32, owners=["clinic-a", "clinic-b"])
    report = strategy.run(grid)          # report.to_dict() is report.json
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

    # Flower's train/evaluate rounds are not used: Mycroft is one query round.
    def configure_train(self, server_round, arrays, config, grid) -> Iterable[Message]:
        return []

    def aggregate_train(self, server_round, replies):
        return None, None

    def configure_evaluate(self, server_round, arrays, config, grid) -> Iterable[Message]:
        return []

    def aggregate_evaluate(self, server_round, replies):
        return None

    def summary(self) -> None:
        return None

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
        messages = {
            node: Message(
                content, dst_node_id=node, message_type=MESSAGE_TYPE, group_id="mycroft-select"
            )
            for node in nodes
        }
        replies = self._send_and_receive(grid, messages)
        t_replies = time.perf_counter()
        results = self._owner_results(trainer, nodes, replies)
        combined, valuation = value_owners_subsets(
            trainer, results, self.config, progress=self.progress
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
            if len(nodes) >= self.num_owners or time.monotonic() >= deadline:
                return nodes
            if shown is None:
                _log.warning(
                    "mycroft-fl: %d node(s) up but %d owners expected; waiting up to %g s for the rest",
                    len(nodes),
                    self.num_owners,
                    self.wait_timeout,
                )
            if self.progress and shown != len(nodes):
                self.progress("waiting for owners", len(nodes), self.num_owners)
            shown = len(nodes)
            time.sleep(self.poll_interval)

    def _send_and_receive(self, grid: Grid, messages: dict[int, Message]) -> dict[int, Message]:
        """Push all messages, then pull replies until all are in or the timeout passes, showing progress."""
        ids = list(grid.push_messages(list(messages.values())))
        node_of = {mid: m.metadata.dst_node_id for mid, m in zip(ids, messages.values())}
        pending = set(node_of)
        replies: dict[int, Message] = {}
        deadline = time.monotonic() + self.reply_timeout
        while pending and time.monotonic() < deadline:
            pulled = list(grid.pull_messages(pending))
            for reply in pulled:
                mid = reply.metadata.reply_to_message_id
                if mid in pending:
                    pending.discard(mid)
                    replies[node_of[mid]] = reply
            if self.progress and pulled:
                self.progress("querying owners", len(replies), len(messages))
            if pending and not pulled:
                time.sleep(self.poll_interval)
        return replies

    def _owner_results(
        self, trainer: Trainer, nodes: list[int], replies: dict[int, Message]
    ) -> list[OwnerResult]:
        results: dict[str, OwnerResult] = {}
        anonymous: list[OwnerResult] = []  # failed without saying which owner they are
        for node in nodes:
            reply = replies.get(node)
            if reply is None:
                result = OwnerResult(
                    f"node-{node}",
                    status="failed",
                    reason=f"no reply within {self.reply_timeout:g} s",
                )
            else:
                result = self._check(trainer, node, reply, self.config)
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
        return list(results.values())

    def _check(
        self, trainer: Trainer, node: int, reply: Message, config: StrategyConfig
    ) -> OwnerResult:
        fallback = f"node-{node}"
        if reply.has_error():
            return OwnerResult(fallback, status="failed", reason=short_reason(reply.error.reason))
        content = reply.content
        info = content.config_records.get("info") or ConfigRecord()
        owner_id = info.get("owner_id")
        if not isinstance(owner_id, str) or not owner_id:
            return OwnerResult(
                fallback, status="rejected", reason="reply does not say which owner sent it"
            )
        if "error" in info:
            return OwnerResult(owner_id, status="failed", reason=short_reason(str(info["error"])))
        subset = content.array_records.get("subset")
        if subset is None:
            return OwnerResult(owner_id, status="rejected", reason="reply has no 'subset' record")
        metrics = content.metric_records.get("metrics") or MetricRecord()
        try:
            arrays = {
                k: subset[k].numpy() if k in subset else None
                for k in ("x", "y", "indices", "audit_x", "audit_y")
            }
        except Exception as exc:  # a record Flower accepted but numpy cannot read
            return OwnerResult(owner_id, status="rejected", reason=f"unreadable array ({exc})")
        return collect_reply(
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
        )


def _number(value: object) -> float | None:
    """A finite number from a reply's metrics, else None (report.json must stay valid JSON)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None
