"""Owners who fail, on real Flower runtimes: a SuperNode killed mid-run on a loopback deployment, and an
owner slower than the reply timeout and one that raises, on the simulation engine.

In each case the run completes, the report names the failed owner with its reason, and the other owners
are valued and ranked from the replies that did arrive. (tests/test_strategy.py covers the same faults
with an in-process Grid double; these go through Flower's SuperLink, SuperNodes and Ray.)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from digit_files import OWNERS, write_digit_files
from flower_procs import (
    REPO,
    flower_env,
    free_ports,
    freeze_tree,
    kill_pids,
    kill_tree,
    marked_processes,
    owned_processes,
    wait_gone,
    wait_log,
    write_connection,
)

# ---------------------------------------------------------------------------------------------
# 1. A SuperNode killed mid-run (loopback deployment)

DEPLOYED = {  # owner id -> per-class sample counts of its file, cut from scikit-learn's digits
    **OWNERS,
    "killed": {
        c: 12 for c in range(10)
    },  # would be useful, but its SuperNode dies before it answers
}
KILLED = "killed"
# The strategy gives up on an owner at its reply timeout. Independently, the SuperLink answers for a node
# that has missed its heartbeats (sent every ~24 s, the node is declared offline 2 x 30 s after the last)
# with a "Node Unavailable" error reply, which the strategy reports as that owner's reason.
SHORT_REPLY_TIMEOUT = (
    30  # s: the timeout comes first (the honest owners answer ~10-15 s after the push)
)
LONG_REPLY_TIMEOUT = (
    300  # s: the SuperLink's heartbeat check ends the wait first, within ~60 s of the kill
)


@pytest.mark.slow
@pytest.mark.timeout(360)
@pytest.mark.parametrize(
    "reply_timeout", [SHORT_REPLY_TIMEOUT, LONG_REPLY_TIMEOUT], ids=["reply-timeout", "heartbeat"]
)
def test_supernode_killed_mid_run_is_reported_failed_and_the_others_ranked(tmp_path, reply_timeout):
    """Four SuperNodes; the one serving `killed` is frozen (SIGSTOP) the moment it has pulled the query, so
    it cannot answer, and SIGKILLed (with its SuperExec/ClientApp children, by PID) once the three other
    owners' replies have reached the SuperLink. The run must finish (at the reply timeout, or when the
    SuperLink declares the node unavailable, whichever comes first), name `killed` as failed with that
    reason, and rank the others from the replies already received."""
    data = tmp_path / "data"
    data.mkdir()
    scenario = write_digit_files(data, "loopback-faults", DEPLOYED)
    out = tmp_path / "out"
    home = tmp_path / "flwr-home"
    link_port, *node_ports = free_ports(1 + len(DEPLOYED))
    write_connection(home, "loopback", link_port)
    env = flower_env(home)
    names = {owner: f"supernode-{owner}" for owner in DEPLOYED}
    t0 = time.monotonic()
    with owned_processes(tmp_path, str(tmp_path)) as procs:
        procs.start_superlink(link_port, env)
        for owner, port in zip(DEPLOYED, node_ports):
            procs.start_supernode(names[owner], link_port, port, f'data-path="{data / owner}.npz"')
        run = procs.start_flwr_run(
            "loopback",
            f"scenario='{scenario}' out='{out}' budget=16 reply-timeout={reply_timeout}",
            env,
        )

        victim = procs.procs[names[KILLED]]
        try:
            t_received = wait_log(procs, names[KILLED], "Receiving: query.select", 150)
            frozen = freeze_tree(victim.pid)  # from here on it cannot answer
            assert "Sending: query.select" not in procs.log(names[KILLED]), procs.logs()
            t_others = max(  # their commitment, then their answer to the query
                wait_log(procs, names[o], "Sent successfully", 120, times=2)
                for o in DEPLOYED
                if o != KILLED
            )
        except (TimeoutError, RuntimeError) as exc:
            pytest.fail(f"{exc}\n" + procs.logs())
        assert not kill_tree(victim.pid), "the killed SuperNode survived SIGKILL"
        t_killed = time.monotonic()
        try:
            rc = run.wait(timeout=min(reply_timeout, 90) + 120)
        except Exception:
            pytest.fail("flwr run did not finish after the SuperNode was killed\n" + procs.logs())
        t_run = time.monotonic() - t0
        assert rc == 0, procs.logs()
        assert (out / "report.json").is_file(), procs.logs()
        assert victim.poll() == -9, procs.logs()
        for name, proc in procs.procs.items():  # nothing else died along the way
            assert name in ("flwr-run", names[KILLED]) or proc.poll() is None, (
                f"{name} exited\n" + procs.logs()
            )
        log = procs.log("flwr-run")
        assert "Traceback" not in log, procs.logs()
        assert "Sending: query.select" not in procs.log(names[KILLED]), (
            procs.logs()
        )  # it never answered

        survivors = procs.stop_all()
        assert not survivors, f"processes survived SIGTERM/SIGKILL: {survivors}"
        leftovers = wait_gone(marked_processes(str(tmp_path)), 10)
        assert not leftovers, f"processes of this test still running after stop: {leftovers}"

    report = json.loads((out / "report.json").read_text())
    by_id = {o["id"]: o for o in report["owners"]}
    print(
        f"\nkilled SuperNode: {len(frozen)} processes frozen {t_received - t0:.1f} s in, killed "
        f"{t_killed - t_received:.1f} s later (other replies in {t_others - t_received:.1f} s after it received); "
        f"flwr run {t_run:.1f} s; report timings {report['timings']}; {KILLED}: {by_id.get(KILLED)}"
    )
    assert sorted(by_id) == sorted(DEPLOYED), report[
        "owners"
    ]  # named by elimination, no anonymous node-N
    dead = by_id[KILLED]
    assert dead["status"] == "failed" and dead["rank"] is None, dead
    if reply_timeout == LONG_REPLY_TIMEOUT:
        assert "Node Unavailable" in dead["reason"], dead
        assert report["timings"]["query_s"] < 120, report["timings"]  # not the 300 s reply timeout
    else:  # the timeout, unless (with unlucky heartbeat timing) the SuperLink gave up on the node first
        assert (
            dead["reason"] == f"no reply within {reply_timeout} s"
            or "Node Unavailable" in dead["reason"]
        ), dead
    assert dead["shared"] == 0 and dead["received"] == 0, dead
    ok = {o: r for o, r in by_id.items() if o != KILLED}
    assert all(r["status"] == "ok" for r in ok.values()), report["owners"]
    assert sorted(r["rank"] for r in ok.values())[0] == 1 and all(
        1 <= r["rank"] <= 3 for r in ok.values()
    )
    # nothing already received is lost: the replies that arrived are valued and counted
    for owner in ("rich", "clinic-mixed"):  # the full budget, and the random audit sample beside it
        audited = by_id[owner]["label_audit"]["samples"]
        assert by_id[owner]["received"] == 16 + audited, report["owners"]
    assert by_id["rich"]["shared"] > 0 and by_id["clinic-mixed"]["shared"] > 0, report["owners"]
    assert all(r["received"] >= r["shared"] for r in ok.values()), report["owners"]
    assert report["exposure"]["total_received"] == sum(r["received"] for r in ok.values())
    assert report["exposure"]["owners_sharing"] == sum(1 for r in ok.values() if r["received"])
    assert by_id["rich"]["rank"] < by_id["unrelated"]["rank"], report["owners"]
    assert report["combined"], report


# ---------------------------------------------------------------------------------------------
# 2 and 3. A slow owner and an owner that raises, on the simulation engine (Ray)

SLOW_REPLY_TIMEOUT = (
    25.0  # s from the push; honest owners answer in ~9 s (Ray actors import torch first)
)
RAISE_REPLY_TIMEOUT = 120.0  # s; never waited out: the error reply arrives with the others


def _faulty_client_app(fault: str, partition: int, release: Path, max_sleep: float):
    """mycroft-fl's ClientApp, except that owner number `partition` raises (fault="raise") or answers
    only after the trainer has given up on it (fault="slow": it waits for `release`, which the ServerApp
    creates once its report is done, or at most max_sleep s). Built in a function so that Ray pickles the
    handler by value (workers need not import this test module)."""
    from flwr.clientapp import ClientApp

    from mycroft_fl.flower import client_app as mycroft_client

    app = ClientApp()

    @app.query("commit")
    def commit(msg, context):
        return mycroft_client.commit(msg, context)

    @app.query("select")
    def select(msg, context):
        if int(context.node_config["partition-id"]) == partition:
            if fault == "raise":
                raise RuntimeError("owner crashed on purpose (fault test)")
            deadline = time.monotonic() + max_sleep
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        return mycroft_client.select(msg, context)

    return app


class _TimedGrid:
    """The ServerApp's Grid, noting when the query (after the owners' commitments) was pushed and
    when each reply to it was pulled."""

    def __init__(self, grid):
        self._grid, self.pushed_at, self.replies_at, self.queries = grid, None, [], set()

    def __getattr__(self, name):
        return getattr(self._grid, name)

    def push_messages(self, messages):
        messages = list(messages)
        ids = list(self._grid.push_messages(messages))
        if any(m.metadata.message_type == "query.select" for m in messages):
            self.pushed_at = time.monotonic()
            self.queries.update(ids)
        return ids

    def pull_messages(self, ids):
        replies = list(self._grid.pull_messages(ids))
        answers = [r for r in replies if r.metadata.reply_to_message_id in self.queries]
        if answers:
            self.replies_at += [time.monotonic() - self.pushed_at] * len(answers)
        return replies


def _simulate_with_fault(
    tmp_path: Path, fault: str, owner: str, reply_timeout: float
) -> tuple[dict, float, list]:
    """The digits scenario (five owners) on run_simulation with `owner` failing; (report dict, wall s,
    seconds from the push to each reply pulled)."""
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from mycroft_fl.flower.server_app import run_scenario
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.strategy_config import load_strategy

    scenario = load_scenario(REPO / "simulations" / "digits.toml")
    partition = scenario.owner_ids.index(owner)
    release = tmp_path / "release"
    result: dict = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid, context) -> None:
        try:
            result["grid"] = grid = _TimedGrid(grid)
            result["report"] = run_scenario(
                grid,
                scenario,
                load_strategy("mycroft", budget=8),
                seed=scenario.seed,
                wait_timeout=60,
                reply_timeout=reply_timeout,
            )
        finally:
            release.touch()  # the slow owner may finish now: the engine waits for its running ClientApps

    t0 = time.monotonic()
    run_simulation(
        server_app=server_app,
        client_app=_faulty_client_app(fault, partition, release, reply_timeout + 60),
        num_supernodes=len(scenario.owners),
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {
                "num_cpus": 2,
                "logging_level": "ERROR",
                "log_to_driver": False,
                "include_dashboard": False,
            },
        },
    )
    wall = time.monotonic() - t0
    assert "report" in result, "the simulation ended without a report"
    return result["report"].to_dict(), wall, result["grid"].replies_at


@pytest.fixture
def engine_processes(tmp_path, monkeypatch):
    """Marks every process the simulation engine starts (Ray's GCS, raylet, workers) with this test's tmp
    path; afterwards ends any still running by PID (run_simulation normally shuts Ray down itself)."""
    monkeypatch.setenv("MYCROFT_FL_FAULT_TEST", str(tmp_path))
    yield
    marked = marked_processes(str(tmp_path))
    names = {p: _cmdline(p) for p in marked}
    leftovers = wait_gone(marked, 20)  # Ray's own shutdown may still be finishing
    survivors = kill_pids(leftovers)
    print(f"engine processes at teardown: {names}; still running after 20 s: {leftovers}")
    assert not leftovers, (
        f"the simulation engine left processes running: "
        f"{ {p: names[p] for p in leftovers} } (survived SIGKILL: {survivors})"
    )


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode(errors="replace")[:120]
        )
    except OSError:
        return "?"


def _assert_others_ranked(report: dict, failed: str) -> None:
    by_id = {o["id"]: o for o in report["owners"]}
    assert sorted(by_id) == sorted(["specialist", "generalist", "sparse", "unrelated", "noisy"]), (
        report["owners"]
    )
    others = [o for i, o in by_id.items() if i != failed]
    assert all(o["status"] == "ok" for o in others), report["owners"]
    assert sorted(o["rank"] for o in others)[0] == 1 and all(1 <= o["rank"] <= 4 for o in others), (
        report["owners"]
    )
    assert all(o["received"] >= o["shared"] for o in others), report["owners"]
    assert failed == "specialist" or by_id["specialist"]["shared"] > 0, report[
        "owners"
    ]  # it holds 8s and 9s
    assert report["exposure"]["total_received"] == sum(o["received"] for o in others)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_owner_slower_than_the_reply_timeout_fails_and_the_others_are_ranked(
    tmp_path, engine_processes
):
    report, wall, replies_at = _simulate_with_fault(
        tmp_path, "slow", "generalist", SLOW_REPLY_TIMEOUT
    )
    by_id = {o["id"]: o for o in report["owners"]}
    print(
        f"\nslow owner on the simulation engine: {wall:.1f} s; replies {replies_at} s after the push; "
        f"timings {report['timings']}; generalist: {by_id.get('generalist')}"
    )
    slow = by_id["generalist"]
    assert slow["status"] == "failed" and slow["rank"] is None, slow
    assert slow["reason"] == f"no reply within {SLOW_REPLY_TIMEOUT:g} s", slow
    assert slow["shared"] == 0 and slow["received"] == 0, slow
    assert len(replies_at) == 4 and max(replies_at) < SLOW_REPLY_TIMEOUT, (
        replies_at
    )  # the four others in time
    assert (
        report["timings"]["query_s"] >= SLOW_REPLY_TIMEOUT
    )  # the trainer did wait out the timeout
    _assert_others_ranked(report, "generalist")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_owner_that_raises_fails_with_its_reason_and_the_others_are_ranked(
    tmp_path, engine_processes
):
    report, wall, replies_at = _simulate_with_fault(
        tmp_path, "raise", "sparse", RAISE_REPLY_TIMEOUT
    )
    by_id = {o["id"]: o for o in report["owners"]}
    print(
        f"\nraising owner on the simulation engine: {wall:.1f} s; replies {replies_at} s after the push; "
        f"timings {report['timings']}; sparse: {by_id.get('sparse')}"
    )
    broken = by_id["sparse"]
    assert broken["status"] == "failed" and broken["rank"] is None, broken
    assert "owner crashed on purpose (fault test)" in broken["reason"], broken
    assert "\n" not in broken["reason"] and len(broken["reason"]) <= 300, broken
    assert broken["shared"] == 0 and broken["received"] == 0, broken
    assert len(replies_at) == 5, (
        replies_at
    )  # its error reply came back through the engine like the others
    assert wall < RAISE_REPLY_TIMEOUT  # so nobody waited for the timeout
    _assert_others_ranked(report, "sparse")
