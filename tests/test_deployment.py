"""A real Flower deployment on loopback: one SuperLink, three SuperNodes (one per owner file), `flwr run`.

The ServerApp and ClientApp are the same ones `flwr run .` uses in simulation; here each owner's data
reaches its SuperNode only through `--node-config 'data-path="..."'`.
"""

from __future__ import annotations

import json
import time

import pytest
from digit_files import OWNERS, write_digit_files
from flower_procs import (
    flower_env,
    free_ports,
    marked_processes,
    owned_processes,
    wait_gone,
    wait_log,
    write_connection,
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_loopback_deployment_ranks_owners(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    scenario = write_digit_files(data, "loopback", OWNERS)
    out = tmp_path / "out"
    home = tmp_path / "flwr-home"
    link_port, *node_ports = free_ports(4)
    write_connection(home, "loopback", link_port)
    env = flower_env(home)
    # each SuperNode installs the app under its own FLWR_HOME (no race on one apps/ directory)
    owners = [  # (node config, expected owner id): the id comes from the file's stem unless owner-id is given
        (f'data-path="{data / "rich.npz"}"', "rich"),
        (f'data-path="{data / "unrelated.npz"}"', "unrelated"),
        (f'data-path="{data / "clinic-mixed.npz"}" owner-id="clinic-mixed"', "clinic-mixed"),
    ]
    t0 = time.monotonic()
    with owned_processes(tmp_path, str(tmp_path)) as procs:
        procs.start_superlink(link_port, env)
        for i, ((node_config, _), port) in enumerate(zip(owners, node_ports)):
            procs.start_supernode(f"supernode-{i}", link_port, port, node_config)
        run = procs.start_flwr_run("loopback", f"scenario='{scenario}' out='{out}' budget=16", env)
        try:
            rc = run.wait(timeout=180)
        except Exception:
            pytest.fail("flwr run did not finish within 180 s\n" + procs.logs())
        t_run = time.monotonic() - t0
        assert rc == 0, procs.logs()
        assert (out / "report.json").is_file(), procs.logs()
        for name, proc in procs.procs.items():  # nothing crashed along the way
            assert name == "flwr-run" or proc.poll() is None, (
                f"{name} exited early\n" + procs.logs()
            )
        assert "Traceback" not in procs.log("flwr-run"), procs.logs()

        survivors = procs.stop_all()
        assert not survivors, f"processes survived SIGTERM/SIGKILL: {survivors}"
        leftovers = wait_gone(marked_processes(str(tmp_path)), 10)
        assert not leftovers, f"processes of this test still running after stop: {leftovers}"

    report = json.loads((out / "report.json").read_text())
    print(
        f"flwr run on loopback: {t_run:.1f} s (total {time.monotonic() - t0:.1f} s); "
        f"timings {report.get('timings')}"
    )
    by_id = {o["id"]: o for o in report["owners"]}
    assert sorted(by_id) == sorted(owner for _, owner in owners), report["owners"]
    assert all(o["status"] == "ok" for o in by_id.values()), report["owners"]
    ranks = sorted(
        o["rank"] for o in by_id.values()
    )  # equal utility and test accuracy share a rank
    assert ranks[0] == 1 and all(1 <= r <= 3 for r in ranks)
    assert report["budget"] == 16
    assert all(0 <= o["shared"] <= report["budget"] for o in by_id.values()), report["owners"]
    assert by_id["rich"]["rank"] < by_id["unrelated"]["rank"], report["owners"]
    assert by_id["rich"]["utility"] > by_id["unrelated"]["utility"], report["owners"]
    assert by_id["rich"]["shared"] > 0
    trainer = report["trainer"]
    for key in ("hard_accuracy", "test_accuracy", "hard_query", "hard_eval"):
        assert key in trainer, trainer
    assert trainer["hard_query"] > 0 and trainer["hard_eval"] > 0
    assert 0.0 <= trainer["test_accuracy"] <= 1.0
    assert report["scenario"] == "loopback"


# Two SuperNodes the trainer does not name: owner files the scenario does not list, one of them rich
# in the hard classes (worth combining, were it invited), one named only by its file's stem.
UNINVITED = {
    "intruder": {**{c: 8 for c in range(8)}, 8: 25, 9: 25},
    "stranger": {c: 10 for c in range(10)},
}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_loopback_deployment_queries_only_the_owners_it_names(tmp_path):
    """Five SuperNodes up, three named by the scenario: every node is asked to commit (which carries
    nothing of the trainer's data), only the named ones are sent the query with its hard samples, and
    only they are valued or combined; report.json lists the two others as ignored."""
    data = tmp_path / "data"
    data.mkdir()
    scenario = write_digit_files(data, "loopback-uninvited", OWNERS, unlisted=UNINVITED)
    out, home = tmp_path / "out", tmp_path / "flwr-home"
    link_port, *node_ports = free_ports(1 + len(OWNERS) + len(UNINVITED))
    write_connection(home, "loopback", link_port)
    env = flower_env(home)
    configs = {  # the uninvited first, so that they are up before the trainer's three are
        "intruder": f'data-path="{data / "intruder.npz"}" owner-id="intruder"',
        "stranger": f'data-path="{data / "stranger.npz"}"',
        **{owner: f'data-path="{data / f"{owner}.npz"}"' for owner in OWNERS},
    }
    with owned_processes(tmp_path, str(tmp_path)) as procs:
        procs.start_superlink(link_port, env)
        for (owner, config), port in zip(configs.items(), node_ports):
            procs.start_supernode(f"supernode-{owner}", link_port, port, config)
        for owner in configs:  # the node has registered with the SuperLink: the trainer sees it
            wait_log(procs, f"supernode-{owner}", "SuperNode ID", 120)
        run = procs.start_flwr_run("loopback", f"scenario='{scenario}' out='{out}' budget=16", env)
        try:
            rc = run.wait(timeout=180)
        except Exception:
            pytest.fail("flwr run did not finish within 180 s\n" + procs.logs())
        assert rc == 0, procs.logs()
        received = {  # what each SuperNode was sent, by its own log
            owner: {
                kind: procs.log(f"supernode-{owner}").count(f"Receiving: query.{kind} message")
                for kind in ("commit", "select")
            }
            for owner in configs
        }
        logs = procs.logs()
        assert not procs.stop_all(), "processes survived SIGTERM/SIGKILL"
        assert not wait_gone(marked_processes(str(tmp_path)), 10)

    for owner in OWNERS:
        assert received[owner] == {"commit": 1, "select": 1}, (received, logs)
    for owner in UNINVITED:  # asked who it is, never sent a hard sample
        assert received[owner] == {"commit": 1, "select": 0}, (received, logs)
    report = json.loads((out / "report.json").read_text())
    assert sorted(o["id"] for o in report["owners"]) == sorted(OWNERS), report["owners"]
    assert all(o["status"] == "ok" for o in report["owners"]), report["owners"]
    assert set(report["combined"]["owners"]) <= set(OWNERS), report["combined"]
    ignored = report["ignored"]  # one line per node, in no set order (nodes' ids are random)
    assert len(ignored) == 2, ignored
    for owner in UNINVITED:
        said = f"answered as '{owner}', an owner not invited"
        assert any(line.startswith("node ") and said in line for line in ignored), ignored
    assert "Not invited, not queried" in (out / "report.md").read_text()
