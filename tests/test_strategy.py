"""MycroftStrategy driven by an in-process Grid: good, malformed, failing and silent owners; start()'s
acquisition rounds and Flower's Result."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from flower_fakes import FakeGrid, task_identity  # noqa: F401 (autouse)
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MetricRecord,
    RecordDict,
)

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.models import get_weights, predict, set_weights
from mycroft_fl.flower.client_app import app as client_app
from mycroft_fl.flower.protocol import short_reason
from mycroft_fl.flower.server_app import main as server_main
from mycroft_fl.flower.strategy import MycroftStrategy
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.trainer import Trainer

BUDGET = 8


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("digits")


def honest(msg, ctx):
    return client_app(msg, ctx)


def as_owner(reply: Message, owner_id: str) -> Message:
    """An owner's reply re-signed with another owner id."""
    content = reply.content
    content["info"] = ConfigRecord({**content["info"], "owner_id": owner_id})
    return reply


def tampered(change):
    """An owner ("cheat") that commits and selects honestly, then alters its reply with
    `change(x, y, positions) -> (x, y, positions)` (its proofs and audit left as they were)."""

    def handler(msg, ctx):
        reply = as_owner(client_app(msg, ctx), "cheat")
        if msg.metadata.message_type != "query.select":
            return reply
        good = reply.content["subset"]
        arrays = {k: good[k].numpy() for k in good}
        arrays.update(
            zip(
                ("x", "y", "positions"),
                change(arrays["x"], arrays["y"], arrays["positions"]),
            )
        )
        reply.content["subset"] = ArrayRecord(
            {k: Array(np.ascontiguousarray(v)) for k, v in arrays.items() if v is not None}
        )
        return reply

    return handler


def raw_reply(content, owner_id="cheat"):
    """An owner that commits honestly (as `owner_id`), then answers the query with `content`."""

    def handler(msg, ctx):
        if msg.metadata.message_type == "query.select":
            return Message(content, reply_to=msg)
        return as_owner(client_app(msg, ctx), owner_id)

    return handler


def make(scenario, handlers: dict, **kwargs):
    """Nodes 100.. are the digits scenario's owners 0..; extra handlers get nodes after them."""
    configs = {
        100 + i: {"partition-id": i, "num-partitions": len(scenario.owners)}
        for i in range(len(handlers))
    }
    grid = FakeGrid(dict(zip(configs, handlers.values())), configs)
    strategy = MycroftStrategy(
        scenario.trainer_data(),
        strategy="mycroft",
        budget=kwargs.pop("budget", BUDGET),
        trainer=scenario.trainer,
        owners=kwargs.pop("owners", list(handlers)),
        scenario=str(scenario.path),
        wait_timeout=0.5,
        reply_timeout=2.0,
        poll_interval=0.01,
        **kwargs,
    )
    return grid, strategy


def run(scenario, handlers: dict, **kwargs):
    grid, strategy = make(scenario, handlers, **kwargs)
    report = strategy.run(grid)
    return grid, {o["id"]: o for o in report.to_dict()["owners"]}


def test_honest_owners_commit_then_are_queried_once_and_ranked(scenario):
    grid, owners = run(scenario, {o: honest for o in scenario.owner_ids})
    kinds = [m.metadata.message_type for m in grid.sent]
    n = len(scenario.owners)
    assert kinds == ["query.commit"] * n + ["query.select"] * n  # commit first, then the query
    assert all("query" not in m.content for m in grid.sent[:n])  # no hard sample before it
    assert all(o["commitment"]["rows"] == 120 for o in owners.values())
    assert set(owners) == set(scenario.owner_ids)
    assert all(o["status"] == "ok" and o["shared"] <= BUDGET for o in owners.values())
    assert sorted(o["rank"] for o in owners.values())[0] == 1
    assert owners["unrelated"]["shared"] == 0 and owners["unrelated"]["utility"] == 0


BAD_REPLIES = {
    "missing x": (tampered(lambda x, y, i: (None, y, i)), "missing array 'x'"),
    "wrong sample shape": (tampered(lambda x, y, i: (x[:, :10], y, i)), "expected (n, 64)"),
    "float labels": (
        tampered(lambda x, y, i: (x, y.astype(np.float32), i)),
        "expected integer labels",
    ),
    "labels out of range": (tampered(lambda x, y, i: (x, y + 10, i)), "labels outside 0..9"),
    "nan": (
        tampered(
            lambda x, y, i: (
                np.where(np.arange(x.size).reshape(x.shape) == 0, np.nan, x).astype(np.float32),
                y,
                i,
            )
        ),
        "NaN or inf",
    ),
    "inf": (tampered(lambda x, y, i: (np.full_like(x, np.inf), y, i)), "NaN or inf"),
    "duplicate indices": (tampered(lambda x, y, i: (x, y, np.zeros_like(i))), "duplicate indices"),
    "a row changed after committing": (
        tampered(lambda x, y, i: (x + np.float32(0.5), y, i)),
        "picks do not open against its commitment",
    ),
    "a label changed after committing": (
        tampered(lambda x, y, i: (x, 17 - y, i)),  # 8s sent as 9s and 9s as 8s
        "picks do not open against its commitment",
    ),
    "over budget": (
        tampered(lambda x, y, i: (np.repeat(x, 2, 0), np.repeat(y, 2), np.arange(2 * len(i)))),
        "exceed the budget of 8",
    ),
    "length mismatch": (tampered(lambda x, y, i: (x, y[:-1], i)), "disagree in length"),
    "no subset record": (
        raw_reply(RecordDict({"info": ConfigRecord({"owner_id": "cheat"})})),
        "no 'subset' record",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_REPLIES))
def test_malformed_reply_is_rejected_with_its_reason_and_others_still_ranked(scenario, case):
    handler, reason = BAD_REPLIES[case]
    _, owners = run(scenario, {"specialist": honest, "generalist": honest, "cheat": handler})
    assert owners["cheat"]["status"] == "rejected"
    assert reason in owners["cheat"]["reason"]
    assert owners["cheat"]["rank"] is None and owners["cheat"]["shared"] == 0
    assert owners["specialist"]["status"] == owners["generalist"]["status"] == "ok"
    assert {owners["specialist"]["rank"], owners["generalist"]["rank"]} <= {1, 2}


def test_reply_without_owner_id_is_rejected(scenario):
    content = RecordDict({"subset": ArrayRecord({"x": Array(np.zeros((1, 64), np.float32))})})
    anon = lambda msg, ctx: Message(content, reply_to=msg)  # noqa: E731 (it does not commit either)
    _, owners = run(scenario, {"specialist": honest, "anon": anon})
    # the only expected owner left unaccounted for is named by elimination
    assert owners["anon"]["status"] == "rejected" and "which owner" in owners["anon"]["reason"]
    _, owners = run(scenario, {"specialist": honest, "anon": anon, "quiet": lambda m, c: None})
    assert sorted(k for k in owners if k.startswith("node-")) == ["node-101", "node-102"]


def test_owner_that_raises_fails_with_reason_and_others_still_ranked(scenario):
    def boom(msg, ctx):
        raise RuntimeError("disk on fire")

    _, owners = run(scenario, {"specialist": honest, "generalist": honest, "broken": boom})
    assert owners["broken"]["status"] == "failed" and owners["broken"]["rank"] is None
    assert (
        "RuntimeError" in owners["broken"]["reason"]
        and "disk on fire" in owners["broken"]["reason"]
    )
    assert owners["specialist"]["rank"] in (1, 2) and owners["generalist"]["rank"] in (1, 2)


def test_silent_owner_fails_after_the_timeout_and_is_named(scenario):
    _, owners = run(scenario, {"specialist": honest, "generalist": lambda m, c: None})
    assert owners["generalist"]["status"] == "failed"
    assert "no reply within 2 s" in owners["generalist"]["reason"]
    assert owners["specialist"]["rank"] == 1


def test_expected_owner_that_never_connects_is_reported_with_the_true_reason(scenario):
    # named, in the scenario, but its node never came up
    _, owners = run(scenario, {"specialist": honest}, owners=["specialist", "generalist"])
    assert owners["generalist"]["status"] == "failed"
    assert "never connected" in owners["generalist"]["reason"]
    # named but not an owner of the scenario: every node was up, none could be it
    _, owners = run(scenario, {"specialist": honest}, owners=["specialist", "ghost"])
    assert owners["ghost"]["status"] == "failed"
    assert "not in the scenario" in owners["ghost"]["reason"]
    assert owners["specialist"]["status"] == "ok"


def test_only_invited_owners_are_queried_valued_or_combined(scenario):
    handlers = {o: honest for o in scenario.owner_ids}  # every node of the scenario is up
    grid, strategy = make(scenario, handlers, owners=["specialist", "sparse"])
    report = strategy.run(grid).to_dict()
    assert {o["id"] for o in report["owners"]} == {"specialist", "sparse"}
    queried = {
        m.metadata.dst_node_id for m in grid.sent if m.metadata.message_type == "query.select"
    }
    assert queried == {100, 102}  # the two named owners' nodes, nobody else saw a hard sample
    assert set(report["combined"]["owners"]) <= {"specialist", "sparse"}
    assert sorted(report["ignored"]) == [
        "node 101 answered as 'generalist', an owner not invited",
        "node 103 answered as 'unrelated', an owner not invited",
        "node 104 answered as 'noisy', an owner not invited",
    ]


def test_two_nodes_claiming_one_owner_id_are_not_both_counted(scenario):
    _, owners = run(scenario, {"a": tampered(lambda *a: a), "b": tampered(lambda *a: a)}, owners=2)
    assert owners["cheat"]["status"] == "ok"
    dup = [o for k, o in owners.items() if k != "cheat"]
    assert (
        len(dup) == 1 and dup[0]["status"] == "rejected" and "already answered" in dup[0]["reason"]
    )


def test_short_reason_keeps_the_last_line_of_a_ray_traceback():
    text = "<class 'ray.exceptions.RayTaskError'>:<'Traceback...\n  File x\n\x1b[31mValueError: boom\x1b[0m'>"
    assert short_reason(text) == "ValueError: boom"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"owners": "clinic-a"}, "owners"),  # a string alone is not a list of owner ids
        ({"owners": 0}, "owners"),
        ({"owners": ["a", "a"]}, "owners"),
        ({"owners": ["a", ""]}, "owners"),
        ({"wait_timeout": 0}, "wait_timeout"),
        ({"reply_timeout": -1.0}, "reply_timeout"),
        ({"poll_interval": 0.0}, "poll_interval"),
    ],
)
def test_bad_arguments_are_refused_at_construction_naming_the_argument(scenario, kwargs, name):
    with pytest.raises(InputError, match=rf"^MycroftStrategy: {name} must be"):
        MycroftStrategy(scenario.trainer_data(), **kwargs)


def test_every_missing_owner_is_reported_beside_an_anonymous_error(scenario):
    def boom(msg, ctx):
        raise RuntimeError("disk on fire")

    named = ["specialist", "generalist", "sparse"]
    _, owners = run(scenario, {"specialist": honest, "anon": boom}, owners=named)
    assert owners["specialist"]["status"] == "ok"
    assert (
        owners["node-101"]["status"] == "failed" and "disk on fire" in owners["node-101"]["reason"]
    )
    for missing in ("generalist", "sparse"):
        assert owners[missing]["status"] == "failed" and owners[missing]["rank"] is None
        assert "without naming its owner" in owners[missing]["reason"]
        assert "never connected" in owners[missing]["reason"]


def test_fewer_nodes_than_owners_warns_at_once_and_shows_waiting(scenario, caplog):
    seen = []
    with caplog.at_level(logging.WARNING, logger="mycroft_fl"):
        _, owners = run(
            scenario,
            {"specialist": honest},
            owners=3,
            progress=lambda stage, done, total: seen.append((stage, done, total)),
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "1 node" in warnings[0] and "3 owners" in warnings[0]
    assert ("waiting for owners", 1, 3) in seen
    assert owners["specialist"]["status"] == "ok"


def test_scenario_for_simulated_owners_is_sent_as_an_absolute_path(scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(scenario.path.parent)
    relative = MycroftStrategy(scenario.trainer_data(), scenario=scenario.path.name)
    assert relative.scenario == str(
        scenario.path
    )  # owners run elsewhere: no relative path reaches them
    assert MycroftStrategy(scenario.trainer_data(), scenario="digits").scenario == str(
        scenario.path
    )
    with pytest.raises(InputError, match="no such scenario"):
        MycroftStrategy(scenario.trainer_data(), scenario=str(tmp_path / "none.toml"))


def recording(sent: dict):
    """An honest owner that notes, per node, the indices of every sample it sends."""

    def handler(msg, ctx):
        reply = client_app(msg, ctx)
        if "subset" in reply.content:
            sent.setdefault(ctx.node_id, []).append(reply.content["subset"]["positions"].numpy())
        return reply

    return handler


def test_start_runs_acquisition_rounds_and_returns_the_combined_model(scenario):
    sent: dict[int, list] = {}
    budget = 16
    grid, strategy = make(scenario, {o: recording(sent) for o in scenario.owner_ids}, budget=budget)
    result = strategy.start(grid, num_rounds=2)
    report = strategy.report.to_dict()
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    assert sorted(result.evaluate_metrics_serverapp) == [0, 1, 2]
    assert sorted(result.train_metrics_clientapp) == [1, 2]
    final = result.evaluate_metrics_serverapp[2]
    assert final["hard_accuracy"] == report["combined"]["hard_accuracy"]
    assert final["received"] == report["exposure"]["total_received"]
    # round 1 goes to every node alike, round 2 to the useful owners only, one message each
    queries = [m for m in grid.sent if m.metadata.message_type == "query.select"]
    first, later = queries[: len(scenario.owners)], queries[len(scenario.owners) :]
    assert {m.content["config"]["budget"] for m in first} == {budget // 2}
    assert later and len({m.metadata.dst_node_id for m in later}) == len(later)
    assert set(report["rounds"][1]["owners"]) <= {"specialist", "generalist", "sparse"}
    for parts in sent.values():  # no owner resends a sample, none exceeds its budget
        everything = np.concatenate(parts)
        assert len(everything) == len(np.unique(everything)) <= budget
    for message in later:
        node = message.metadata.dst_node_id
        assert np.array_equal(message.content["query"]["exclude"].numpy(), sent[node][0])
    # Flower's Result: the combined model's weights load into the trainer's model
    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=0)
    model = set_weights(trainer.spec.build(), {k: a.numpy() for k, a in result.arrays.items()})
    right = predict(model, trainer.hard_eval.x) == trainer.hard_eval.y
    assert right.mean() == pytest.approx(report["combined"]["hard_accuracy"])


def test_start_with_one_round_selects_as_run(scenario):
    grid, strategy = make(scenario, {o: honest for o in scenario.owner_ids})
    strategy.start(grid, num_rounds=1)
    started = strategy.report.to_dict()
    _, ran = run(scenario, {o: honest for o in scenario.owner_ids})
    assert {o["id"]: o["shared"] for o in started["owners"]} == {
        k: o["shared"] for k, o in ran.items()
    }
    assert {o["id"]: o["utility"] for o in started["owners"]} == {
        k: o["utility"] for k, o in ran.items()
    }


def test_start_builds_on_the_initial_arrays_and_feeds_evaluate_fn(scenario):
    weights = get_weights(Trainer(scenario.trainer_data(), scenario.trainer, seed=0).baseline)
    initial = ArrayRecord({k: Array(v) for k, v in weights.items()})
    seen = []

    def evaluate_fn(server_round, arrays):
        seen.append((server_round, sorted(arrays)))
        return MetricRecord({"mine": float(server_round)})

    grid, strategy = make(scenario, {"specialist": honest})
    result = strategy.start(grid, initial, num_rounds=1, timeout=5.0, evaluate_fn=evaluate_fn)
    query = next(m for m in grid.sent if m.metadata.message_type == "query.select").content["query"]
    assert all(np.array_equal(query[f"weights/{k}"].numpy(), v) for k, v in weights.items())
    assert [r for r, _ in seen] == [0, 1] and seen[0][1] == sorted(weights)
    assert result.evaluate_metrics_serverapp[1]["mine"] == 1.0
    assert "hard_accuracy" in result.evaluate_metrics_serverapp[1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"initial_arrays": {"w": np.zeros(3)}}, "initial_arrays must be an ArrayRecord"),
        ({"initial_arrays": ArrayRecord({"w": Array(np.zeros(3))})}, "initial weights do not fit"),
        ({"num_rounds": 0}, "num_rounds must be"),
        ({"timeout": 0}, "timeout must be"),
        ({"train_config": ConfigRecord({"lr": 0.1})}, "train_config must be None or empty"),
    ],
)
def test_start_refuses_bad_arguments_before_sending_anything(scenario, kwargs, message):
    grid, strategy = make(scenario, {"specialist": honest})
    with pytest.raises(InputError, match=message):
        strategy.start(grid, **kwargs)
    assert grid.sent == []


def test_flower_train_and_evaluate_hooks_are_not_offered(scenario):
    strategy = MycroftStrategy(scenario.trainer_data())
    hooks = ("configure_train", "aggregate_train", "configure_evaluate", "aggregate_evaluate")
    assert not any(hasattr(strategy, hook) for hook in hooks)
    assert callable(strategy.start) and callable(strategy.run)


def test_start_takes_an_empty_array_record_as_no_initial_model(scenario):
    grid, strategy = make(scenario, {"specialist": honest})
    result = strategy.start(grid, ArrayRecord(), num_rounds=1)
    _, ran = run(scenario, {"specialist": honest})
    assert strategy.report.to_dict()["owners"][0]["utility"] == ran["specialist"]["utility"]
    assert len(result.arrays) > 0


def test_server_app_run_config_rounds_reaches_start(scenario, tmp_path):
    configs = {100 + i: {"partition-id": i} for i in range(len(scenario.owners))}
    grid = FakeGrid(dict.fromkeys(configs, honest), configs)
    run_config = {"rounds": 2, "budget": 16, "out": str(tmp_path), "reply-timeout": 60.0}
    server_main(grid, server_context(run_config))
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    with pytest.raises(InputError, match="run config: rounds must be"):
        server_main(grid, server_context({"rounds": 0}))


def server_context(run_config: dict) -> Context:
    return Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)


def test_value_owners_gives_the_combined_model_start_gives(scenario):
    """`value_owners(...).weights` are the weights `start()`'s Result.arrays carries for the same
    run, and they are the model the report's combined figures were measured on."""
    from mycroft_fl import value_owners

    grid, strategy = make(scenario, {o: honest for o in scenario.owner_ids})
    result = strategy.start(grid, num_rounds=1)
    report = value_owners(
        scenario.trainer_data(),
        scenario.owners_data(),
        budget=BUDGET,
        seed=0,
        trainer=scenario.trainer,
    )
    assert report.to_dict()["combined"] == strategy.report.to_dict()["combined"]
    arrays = {k: a.numpy() for k, a in result.arrays.items()}
    assert list(report.weights) == list(arrays)
    assert all(np.array_equal(report.weights[k], v) for k, v in arrays.items())
    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=0)
    model = set_weights(trainer.spec.build(), report.weights)
    right = predict(model, trainer.hard_eval.x) == trainer.hard_eval.y
    assert right.mean() == pytest.approx(report.to_dict()["combined"]["hard_accuracy"])
