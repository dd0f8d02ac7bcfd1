"""Simulation at scale: several owners per simulated SuperNode, each answering and checked on its own;
`simulate` on an existing Ray cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from flower_fakes import FakeGrid, task_identity  # noqa: F401 (autouse)
from flwr.app import Array, ArrayRecord, ConfigRecord, Message

from mycroft_fl.flower import simulation
from mycroft_fl.flower.client_app import app as client_app
from mycroft_fl.flower.strategy import MycroftStrategy
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.strategy_config import load_strategy

BUDGET = 8
CLI = [str(Path(sys.executable).parent / "mycroft-fl")]


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("digits")


def make(scenario, handlers: list, nodes: int | None, **kwargs):
    """Nodes 100.. answering with `handlers`; with `nodes`, they share the scenario's owners, else
    node 100 + i is owner i (its partition-id)."""
    configs = {100 + i: {} if nodes else {"partition-id": i} for i in range(len(handlers))}
    grid = FakeGrid(dict(zip(configs, handlers)), configs)
    strategy = MycroftStrategy(
        scenario.trainer_data(),
        budget=BUDGET,
        trainer=scenario.trainer,
        owners=scenario.owner_ids,
        scenario=str(scenario.path),
        wait_timeout=0.5,
        reply_timeout=2.0,
        poll_interval=0.01,
        nodes=nodes,
        **kwargs,
    )
    return grid, strategy


def owners_of(report) -> dict[str, dict]:
    return {o["id"]: o for o in report.to_dict()["owners"]}


def figures(owners: dict[str, dict]) -> dict[str, tuple]:
    return {k: (o["status"], o["shared"], o.get("utility")) for k, o in owners.items()}


def test_shared_nodes_answer_for_their_owners_as_one_node_per_owner(scenario):
    grid, strategy = make(scenario, [client_app] * 2, nodes=2)
    shared = owners_of(strategy.run(grid))
    owners = [list(m.content["config"]["owners"]) for m in grid.sent]
    assert owners == [[0, 2, 4], [1, 3]] * 2  # each node commits, then answers, for its owners
    grid_alone, strategy_alone = make(scenario, [client_app] * len(scenario.owners), nodes=None)
    assert sorted(shared) == sorted(scenario.owner_ids)
    assert figures(shared) == figures(owners_of(strategy_alone.run(grid_alone)))


def tamper(owner: int, change):
    """A node that commits and answers honestly, then alters owner number `owner`'s part of its
    reply to the query."""

    def handler(msg, ctx):
        reply = client_app(msg, ctx)
        if msg.metadata.message_type == "query.select":
            change(reply.content, f"owner-{owner}.")
        return Message(reply.content, reply_to=msg)

    return handler


def bad_labels(content, prefix):
    subset = content[prefix + "subset"]
    y = subset["y"].numpy()
    content[prefix + "subset"] = ArrayRecord(
        {**{k: subset[k] for k in subset}, "y": Array(np.full_like(y, 99))}
    )


def other_name(content, prefix):
    content[prefix + "info"] = ConfigRecord({**content[prefix + "info"], "owner_id": "noisy"})


def no_part(content, prefix):
    for key in [k for k in content if k.startswith(prefix)]:
        del content[key]


@pytest.mark.parametrize(
    "change, reason",
    [(bad_labels, "labels outside"), (other_name, "replied as 'noisy'"), (no_part, "no part")],
)
def test_a_malformed_part_rejects_only_its_owner(scenario, change, reason):
    grid, strategy = make(scenario, [tamper(2, change), client_app], nodes=2)
    owners = owners_of(strategy.run(grid))
    victim = scenario.owner_ids[2]
    assert owners[victim]["status"] == "rejected" and reason in owners[victim]["reason"]
    assert all(o["status"] == "ok" for k, o in owners.items() if k != victim)


def test_a_failing_node_fails_each_of_its_owners_by_name(scenario):
    def crash(msg, ctx):
        raise RuntimeError("node down")

    grid, strategy = make(scenario, [crash, client_app], nodes=2)
    owners = owners_of(strategy.run(grid))
    for i, owner in enumerate(scenario.owner_ids):
        if i % 2 == 0:
            assert owners[owner]["status"] == "failed" and "node down" in owners[owner]["reason"]
        else:
            assert owners[owner]["status"] == "ok"


def test_shared_nodes_in_two_rounds_as_one_node_per_owner(scenario):
    grid, strategy = make(scenario, [client_app] * 2, nodes=2)
    strategy.start(grid, num_rounds=2)
    later = grid.sent[4:]  # after each node's commit and first query
    assert later and all(len(m.content["config"]["owners"]) == 1 for m in later)
    grid_alone, alone = make(scenario, [client_app] * len(scenario.owners), nodes=None)
    alone.start(grid_alone, num_rounds=2)
    shared_rounds, alone_rounds = (
        strategy.report.to_dict()["rounds"],
        alone.report.to_dict()["rounds"],
    )
    assert [r["owners"] for r in shared_rounds] == [r["owners"] for r in alone_rounds]
    assert figures(owners_of(strategy.report)) == figures(owners_of(alone.report))


def test_ray_address_goes_to_ray_init_without_num_cpus(scenario, monkeypatch):
    seen = []

    def fake_run_simulation(**kwargs):
        seen.append((kwargs["num_supernodes"], kwargs["backend_config"]["init_args"]))

    monkeypatch.setattr("flwr.simulation.run_simulation", fake_run_simulation)
    strategy = load_strategy("mycroft", budget=BUDGET)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for address, env in ((None, None), ("10.0.0.1:6379", None), (None, "10.0.0.2:6379")):
        if env:
            monkeypatch.setenv("RAY_ADDRESS", env)
        with pytest.raises(RuntimeError, match="without a report"):
            simulation.simulate(scenario, strategy, seed=0, ray_address=address, max_nodes=2)
    (nodes, local), (_, flag), (_, from_env) = seen
    assert nodes == 2 and local["num_cpus"] == 2 and "address" not in local
    assert flag["address"] == "10.0.0.1:6379" and "num_cpus" not in flag
    assert from_env["address"] == "10.0.0.2:6379" and "num_cpus" not in from_env


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_simulate_on_an_existing_two_node_ray_cluster(tmp_path, monkeypatch):
    """In two rounds, owners answer from client actors on both nodes, every round's valuation tasks
    run on the worker (the only node offering `trainer`), and the report is the in-process one for
    the same seed."""
    from ray.cluster_utils import Cluster

    from mycroft_fl.trainer.in_process import acquire
    from mycroft_fl.trainer.strategy_config import resolve_strategy
    from mycroft_fl.trainer.trainer import Trainer

    # a short private temp dir: its address file must not be found by other ray.init calls
    ray_tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    head = {"num_cpus": 1, "include_dashboard": False}  # one client actor per node: 1 CPU each
    cluster = Cluster(initialize_head=True, connect=False, head_node_args=head)
    try:
        worker = cluster.add_node(num_cpus=1, resources={simulation.TRAINER: 1})
        cluster.wait_for_nodes()
        proc = subprocess.run(
            [*CLI, "simulate", "digits", "--budget", str(BUDGET), "--seed", "3", "--quiet"]
            + ["--rounds", "2", "--out", str(tmp_path), "--ray-address", cluster.address],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        tasks = subprocess.run(
            [sys.executable, "-c", TASKS, cluster.address],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert tasks.returncode == 0, tasks.stderr[-2000:]
        nodes = {"head": cluster.head_node.node_id, "worker": worker.node_id}
    finally:
        cluster.shutdown()
    ran = json.loads(tasks.stdout)
    assert ran["ClientAppActor.run"]["nodes"] == sorted(nodes.values())  # owners on both nodes
    # the valuation tasks (simulation.ray_map), one batch per round on the one `trainer` slot
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["rounds"]) == 2 and ran["_batch"] == {"nodes": [nodes["worker"]], "tasks": 2}
    sc = load_scenario("digits")
    config = resolve_strategy("mycroft", BUDGET)
    trainer = Trainer(sc.trainer_data(), sc.trainer, seed=3)
    local = acquire(trainer, sc.owners_data(), config, rounds=2)
    assert [o["status"] for o in report["owners"]] == ["ok"] * len(sc.owners)
    assert figures(owners_of(local)) == figures({o["id"]: o for o in report["owners"]})


# The nodes each Ray task and actor call ran on, by function name, from the cluster's task events
# (kept by the GCS; no dashboard needed), polled until the simulation's workers have reported them.
TASKS = """import collections, json, sys, time, ray
from ray._private.state import state
from ray.core.generated import gcs_pb2
ray.init(address=sys.argv[1], logging_level="ERROR")
deadline = time.monotonic() + 20
while True:
    ran, tasks = collections.defaultdict(set), collections.defaultdict(set)
    for raw in state._connect_and_get_accessor().get_task_events():
        event = gcs_pb2.TaskEvents.FromString(raw)
        node = event.state_updates.node_id or event.task_info.node_id
        if node:
            ran[event.task_info.func_or_class_name].add(node.hex())
            tasks[event.task_info.func_or_class_name].add(event.task_id)
    if len(ran["ClientAppActor.run"]) == 2 and len(tasks["_batch"]) >= 2:
        break
    if time.monotonic() > deadline:
        break
    time.sleep(1)
print(json.dumps({k: {"nodes": sorted(ran[k]), "tasks": len(tasks[k])} for k in ran}))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_owners_scored_as_ray_tasks_as_in_process(scenario, monkeypatch):
    import ray

    grid, strategy = make(scenario, [client_app] * 2, nodes=2)
    here = strategy.run(grid).to_dict()
    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="r", dir="/tmp"))
    ray.init(num_cpus=1, resources={simulation.TRAINER: 2}, include_dashboard=False)
    try:
        assert os.getpid() not in simulation.ray_map(lambda _: os.getpid(), [0, 1])
        grid, strategy = make(scenario, [client_app] * 2, nodes=2, map_fn=simulation.ray_map)
        tasks = strategy.run(grid).to_dict()
    finally:
        ray.shutdown()
    assert figures({o["id"]: o for o in tasks["owners"]}) == figures(
        {o["id"]: o for o in here["owners"]}
    )
    assert tasks["combined"] == here["combined"]
