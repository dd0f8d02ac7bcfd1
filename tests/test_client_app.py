"""The owner ClientApp called directly with hand-built Flower messages."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from flower_fakes import make_context, make_message

from mycroft_fl.core.commitment import Commitment, MerkleTree, committed_order, verify_openings
from mycroft_fl.core.data import save_npz
from mycroft_fl.flower.client_app import app as client_app
from mycroft_fl.flower.protocol import commit_content, query_content
from mycroft_fl.owner.answer import audit_positions_of
from mycroft_fl.owner.holding import Holding
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.acquisition import strategy_query
from mycroft_fl.trainer.strategy_config import load_strategy
from mycroft_fl.trainer.trainer import Trainer


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("digits")


@pytest.fixture(scope="module")
def trainer(scenario):
    return Trainer(scenario.trainer_data(), scenario.trainer, seed=0)


def ask(trainer, scenario, node_config, method="mycroft", budget=8):
    query = strategy_query(trainer, load_strategy(method, budget=budget))
    msg = make_message(query_content(query, scenario=str(scenario.path)), dst=7)
    return client_app(msg, make_context(7, node_config))


def rows_of(data, positions):
    """The owner's own rows at committed positions (its rows sorted by label)."""
    return committed_order(data.y)[positions]


def test_an_owner_commits_to_its_data_before_seeing_any_query(scenario):
    msg = make_message(commit_content(10, scenario=str(scenario.path)), 7, "query.commit")
    reply = client_app(msg, make_context(7, {"partition-id": 0, "num-partitions": 5}))
    data = scenario.owner_data(scenario.owners[0].id)
    committed = Commitment.from_arrays(
        {k: a.numpy() for k, a in reply.content["commitment"].items()}
    )
    assert committed == MerkleTree(data.x, data.y, 10, order=committed_order(data.y)).commitment
    assert committed.counts == tuple(np.bincount(data.y, minlength=10))
    assert reply.content["info"]["owner_id"] == scenario.owners[0].id
    assert reply.content["metrics"]["local_size"] == len(data)


@pytest.mark.parametrize("method", ["mycroft", "gradmatch", "retrieval", "random"])
def test_simulated_owner_replies_with_its_budgeted_subset(trainer, scenario, method):
    reply = ask(trainer, scenario, {"partition-id": 0, "num-partitions": 5}, method=method)
    assert not reply.has_error()
    owner = scenario.owners[0].id
    data = scenario.owner_data(owner)
    assert reply.content["info"]["owner_id"] == owner
    assert reply.content["info"]["selector"] == method
    subset = reply.content["subset"]
    positions = subset["positions"].numpy()
    assert 0 < len(positions) <= 8 and len(np.unique(positions)) == len(positions)
    idx = rows_of(data, positions)
    np.testing.assert_array_equal(subset["x"].numpy(), data.x[idx])
    np.testing.assert_array_equal(subset["y"].numpy(), data.y[idx])
    assert set(subset["y"].numpy()) <= set(trainer.hard_classes)
    # beside its picks, the rows the trainer's audit drew from its commitment, both opened
    holding = Holding(data, 10)
    query = strategy_query(trainer, load_strategy(method, budget=8))
    drawn = subset["audit_positions"].numpy()
    picked_y = subset["y"].numpy()
    np.testing.assert_array_equal(drawn, audit_positions_of(query, holding.commitment, picked_y))
    assert len(drawn) == 32 and set(subset["audit_y"].numpy()) <= set(trainer.hard_classes)
    np.testing.assert_array_equal(subset["audit_x"].numpy(), data.x[rows_of(data, drawn)])
    for at, proofs, x, y in (
        ("positions", "proofs", "x", "y"),
        ("audit_positions", "audit_proofs", "audit_x", "audit_y"),
    ):
        opened = [subset[k].numpy() for k in (at, x, y, proofs)]
        assert verify_openings(holding.commitment, *opened) is None
    assert reply.content["metrics"]["local_size"] == len(data)
    assert reply.content["metrics"]["selection_s"] >= 0


def test_full_information_sends_every_hard_class_sample(trainer, scenario):
    reply = ask(
        trainer,
        scenario,
        {"partition-id": 0, "num-partitions": 5},
        method="full-information",
        budget=1,
    )
    data = scenario.owner_data(scenario.owners[0].id)
    assert len(reply.content["subset"]["positions"].numpy()) == int(
        np.isin(data.y, trainer.hard_classes).sum()
    )


@pytest.mark.parametrize("method", ["loo", "shapley"])
def test_data_valuation_sends_all_the_owners_data(trainer, scenario, method):
    reply = ask(
        trainer, scenario, {"partition-id": 3, "num-partitions": 5}, method=method, budget=1
    )
    assert "error" not in reply.content["info"], reply.content["info"]
    data = scenario.owner_data(
        scenario.owners[3].id
    )  # `unrelated`: digits 0-7, no hard class at all
    positions = reply.content["subset"]["positions"].numpy()
    np.testing.assert_array_equal(np.sort(positions), np.arange(len(data)))
    np.testing.assert_array_equal(
        reply.content["subset"]["y"].numpy(), data.y[rows_of(data, positions)]
    )


def test_deployed_owner_reads_data_path_and_is_named_by_it(trainer, scenario, tmp_path):
    path = tmp_path / "clinic-a.npz"
    save_npz(path, scenario.owner_data("specialist"))
    reply = ask(trainer, scenario, {"data-path": str(path)})
    assert reply.content["info"]["owner_id"] == "clinic-a"
    assert len(reply.content["subset"]["positions"].numpy()) == 8
    named = ask(trainer, scenario, {"data-path": str(path), "owner-id": "north"})
    assert named.content["info"]["owner_id"] == "north"


@pytest.mark.parametrize(
    "node_config, reason",
    [
        ({}, "no data"),
        ({"data-path": "/nonexistent/owner.npz"}, "no such file"),
        ({"partition-id": 99, "num-partitions": 100}, "partition-id 99"),
    ],
)
def test_owner_that_cannot_select_replies_with_its_reason(trainer, scenario, node_config, reason):
    reply = ask(trainer, scenario, node_config)
    assert not reply.has_error()
    assert "subset" not in reply.content.array_records
    assert reason in reply.content["info"]["error"]


def test_the_strategys_anchor_reaches_the_owner(trainer, scenario):
    from dataclasses import replace

    from mycroft_fl.owner.answer import select_for_query
    from mycroft_fl.owner.selectors import Mycroft

    paper = replace(
        load_strategy("mycroft", budget=16),
        selector=Mycroft(anchor="geometric-median", penalty=50.0),
    )
    query = strategy_query(trainer, paper)
    assert query.to_config()["selector/anchor"] == "geometric-median"
    msg = make_message(query_content(query, scenario=str(scenario.path)), dst=7)
    reply = client_app(msg, make_context(7, {"partition-id": 0, "num-partitions": 5}))
    data = scenario.owner_data(scenario.owners[0].id)
    picked = rows_of(data, reply.content["subset"]["positions"].numpy())
    np.testing.assert_array_equal(picked, select_for_query(query, data))
    assert not np.array_equal(
        np.sort(picked),
        np.sort(
            select_for_query(
                replace(query, selector_params={**query.selector_params, "anchor": "nearest"}), data
            )
        ),
    )


USER_CODE = """
from pathlib import Path

from mycroft_fl.core.models import build_model

Path(__file__).with_name("imported").touch()  # proof that the owner ran this module


def mlp(sample_shape, n_classes):
    return build_model("mlp", sample_shape, n_classes)


def flat():
    return lambda x: x.reshape(len(x), -1)
"""


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    """A module of the trainer's own code: a factory for the built-in mlp and a flattening embedder."""
    (tmp_path / "usercode.py").write_text(USER_CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "imported"
    sys.modules.pop("usercode", None)  # the next test imports its own copy


def code_query(trainer, kind: str):
    """The trainer's query with its model or embedder named as user code doing the same."""
    from dataclasses import replace

    query = strategy_query(trainer, load_strategy("mycroft", budget=8))
    if kind == "model":
        return replace(query, model=replace(query.model, name="usercode:mlp")), "usercode:mlp"
    return replace(query, embedder="usercode:flat", embedder_state={}), "usercode:flat"


@pytest.mark.parametrize("kind", ["model", "embedder"])
def test_deployed_owner_refuses_code_it_did_not_allow(trainer, user_code, tmp_path, kind):
    path = tmp_path / "clinic-a.npz"
    save_npz(path, load_scenario("digits").owner_data("specialist"))
    query, name = code_query(trainer, kind)
    msg = make_message(query_content(query), dst=7)
    reply = client_app(msg, make_context(7, {"data-path": str(path)}))
    error = reply.content["info"]["error"]
    assert f"{kind} {name!r}" in error and "allow-code" in error
    assert not user_code.exists()  # refused before importing anything
    allowed = {"data-path": str(path), "allow-code": f"other.mod:f, {name}"}
    for node_config in (allowed, {"data-path": str(path), "allow-code": "*"}):
        reply = client_app(make_message(query_content(query), dst=7), make_context(7, node_config))
        assert "error" not in reply.content["info"], reply.content["info"]
        assert 0 < len(reply.content["subset"]["positions"].numpy()) <= 8
    assert user_code.exists()


def test_simulated_owner_runs_the_code_its_scenario_names(trainer, user_code, tmp_path):
    text = (load_scenario("digits").path.read_text()).replace(
        'model = "mlp"', 'model = "usercode:mlp"'
    )
    (tmp_path / "coded.toml").write_text(text)
    sc = load_scenario(tmp_path / "coded.toml")
    query, _ = code_query(trainer, "model")
    node = {"partition-id": 0, "num-partitions": 5}
    msg = make_message(query_content(query, scenario=str(sc.path)), dst=7)
    reply = client_app(msg, make_context(7, node))
    assert "error" not in reply.content["info"], reply.content["info"]
    query, _ = code_query(trainer, "embedder")  # the scenario does not name this one
    msg = make_message(query_content(query, scenario=str(sc.path)), dst=7)
    assert "'usercode:flat'" in client_app(msg, make_context(7, node)).content["info"]["error"]


def test_in_process_owners_run_the_trainers_own_code(scenario, user_code):
    from mycroft_fl import TrainerConfig, value_owners

    report = value_owners(
        scenario.trainer_data(),
        {"specialist": scenario.owner_data("specialist")},
        budget=8,
        trainer=TrainerConfig(model="usercode:mlp", embedder="usercode:flat"),
    )
    assert report.owners[0].status == "ok", report.owners[0].reason
    assert user_code.exists()
