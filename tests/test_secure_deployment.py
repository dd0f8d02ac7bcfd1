"""A Flower deployment on loopback with TLS and SuperNode authentication.

A throw-away CA signs the SuperLink's certificate for 127.0.0.1/localhost; each owner's SuperNode has
its own EC key pair, whose public key is registered with `flwr supernode register` before the node
starts. The app runs over TLS as in test_deployment.py. A fourth SuperNode, with a fresh key nobody
registered, must be refused: it exits with an activation error, the SuperLink logs the unknown key,
it never appears in `flwr supernode list`, and the run's report does not contain it.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from digit_files import OWNERS, write_digit_files
from flower_procs import (
    VENV_BIN,
    flower_env,
    free_ports,
    make_node_key,
    make_tls_files,
    marked_processes,
    owned_processes,
    wait_gone,
    wait_http,
    write_tls_connection,
)

CONNECTION = "secure"
INTRUDER = {c: 5 for c in range(10)}  # would be valued if its node got in


def _flwr(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> dict:
    """Run a short `flwr ... --format json` command (bounded) and return its JSON output."""
    try:
        r = subprocess.run(
            [str(VENV_BIN / "flwr"), *args, "--format", "json"],
            env=env,
            cwd=cwd,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"flwr {' '.join(args)} did not finish within {timeout:g} s")
    assert r.returncode == 0, f"flwr {' '.join(args)} -> rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout[r.stdout.index("{") :])  # a success line may precede the JSON


def _pem_marker(pub: Path) -> str:
    """A line of the public key's PEM form: the SuperLink logs refused keys in that form."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_public_key(pub.read_bytes())
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode().splitlines()[2]  # past the header and the curve-specific first line


def _nodes(env: dict[str, str], cwd: Path) -> dict[int, str]:
    """The SuperLink's SuperNodes: node id -> status (registered / online / offline ...)."""
    out = _flwr(["supernode", "list", CONNECTION], env, cwd)
    assert out.get("success"), out
    return {int(n["node-id"]): n["status"] for n in out["nodes"]}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_tls_deployment_refuses_unregistered_supernode(tmp_path):
    t0 = time.monotonic()
    data = tmp_path / "data"
    data.mkdir()
    scenario = write_digit_files(data, "secure-loopback", OWNERS, unlisted={"intruder": INTRUDER})
    out = tmp_path / "out"
    tls = make_tls_files(tmp_path / "certs")
    keys = {owner: make_node_key(tmp_path / "keys", owner) for owner in (*OWNERS, "intruder")}
    home = tmp_path / "flwr-home"
    link_port, *node_ports = free_ports(5)
    write_tls_connection(home, CONNECTION, link_port, tls["ca"])
    env = flower_env(home)
    node_config = {
        "rich": f'data-path="{data / "rich.npz"}"',
        "unrelated": f'data-path="{data / "unrelated.npz"}"',
        "clinic-mixed": f'data-path="{data / "clinic-mixed.npz"}" owner-id="clinic-mixed"',
        "intruder": f'data-path="{data / "intruder.npz"}" owner-id="intruder"',
    }

    def supernode(name: str, port: int, *extra: str):
        cwd = tmp_path / f"supernode-{name}"
        cwd.mkdir()
        return procs.start(
            f"supernode-{name}",
            [
                str(VENV_BIN / "flower-supernode"),
                "--root-certificates",
                str(tls["ca"]),
                "--superlink",
                f"127.0.0.1:{link_port}",
                "--auth-supernode-private-key",
                str(keys[name][0]),
                "--port",
                str(port),
                "--node-config",
                node_config[name],
                *extra,
            ],
            env=flower_env(cwd / "flwr-home"),
            cwd=cwd,
        )

    with owned_processes(tmp_path, str(tmp_path)) as procs:
        cwd = tmp_path / "superlink"
        cwd.mkdir()
        link = procs.start(
            "superlink",
            [
                str(VENV_BIN / "flower-superlink"),
                "--ssl-ca-certfile",
                str(tls["ca"]),
                "--ssl-certfile",
                str(tls["cert"]),
                "--ssl-keyfile",
                str(tls["key"]),
                "--enable-supernode-auth",
                "--host",
                "127.0.0.1",
                "--port",
                str(link_port),
                "--disable-runtime-dependency-installation",
                "--database",
                str(tmp_path / "state.db"),
            ],
            env=env,
            cwd=cwd,
        )
        wait_http(f"https://127.0.0.1:{link_port}/health", 60, link, cafile=tls["ca"])
        plain = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(OSError):  # TLS only: plain HTTP gets no answer
            plain.open(f"http://127.0.0.1:{link_port}/health", timeout=3).close()

        registered = {}
        for owner in OWNERS:
            res = _flwr(["supernode", "register", str(keys[owner][1]), CONNECTION], env, tmp_path)
            assert res.get("success"), res
            registered[owner] = int(res["node-id"])
        assert len(set(registered.values())) == 3, registered
        assert _nodes(env, tmp_path) == {nid: "registered" for nid in registered.values()}

        # the intruder first, so it has every chance to get in before the run; bounded retries
        intruder = supernode(
            "intruder", node_ports[3], "--max-retries", "2", "--max-wait-time", "20"
        )
        for owner, port in zip(OWNERS, node_ports):
            supernode(owner, port)

        deadline = time.monotonic() + 60
        while (nodes := _nodes(env, tmp_path)) != {nid: "online" for nid in registered.values()}:
            assert set(nodes) == set(registered.values()), (
                f"unexpected nodes {nodes}\n" + procs.logs()
            )
            for owner in OWNERS:
                assert procs.procs[f"supernode-{owner}"].poll() is None, (
                    f"{owner} exited\n" + procs.logs()
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"registered SuperNodes not all online within 60 s: {nodes}\n" + procs.logs()
                )
            time.sleep(1)
        try:
            intruder_rc = intruder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(
                "the unregistered SuperNode was neither refused nor stopped within 60 s\n"
                + procs.logs()
            )
        t_ready = time.monotonic() - t0

        run = procs.start_flwr_run(CONNECTION, f"scenario='{scenario}' out='{out}' budget=16", env)
        try:
            rc = run.wait(timeout=150)
        except subprocess.TimeoutExpired:
            pytest.fail("flwr run did not finish within 150 s\n" + procs.logs())
        t_run = time.monotonic() - t0
        assert rc == 0, procs.logs()
        assert (out / "report.json").is_file(), procs.logs()
        assert "Traceback" not in procs.log("flwr-run"), procs.logs()
        for owner in OWNERS:
            assert procs.procs[f"supernode-{owner}"].poll() is None, (
                f"{owner} exited early\n" + procs.logs()
            )
        assert link.poll() is None, procs.logs()

        # the refusal, three ways: the intruder's exit and log, the SuperLink's log, its node list
        assert intruder_rc != 0, procs.logs()
        assert "Failed to activate SuperNode" in procs.log("supernode-intruder"), procs.logs()
        refusals = [
            line
            for line in procs.log("superlink").splitlines()
            if "No SuperNode found with the given public key" in line
        ]
        assert any(_pem_marker(keys["intruder"][1]) in line for line in refusals), procs.logs()
        assert not any(_pem_marker(keys[o][1]) in line for o in OWNERS for line in refusals), (
            procs.logs()
        )
        for owner in OWNERS:  # no registered node was refused
            assert "Failed to activate" not in procs.log(f"supernode-{owner}"), procs.logs()
        assert _nodes(env, tmp_path) == {nid: "online" for nid in registered.values()}

        survivors = procs.stop_all()
        assert not survivors, f"processes survived SIGTERM/SIGKILL: {survivors}"
        leftovers = wait_gone(marked_processes(str(tmp_path)), 10)
        assert not leftovers, f"processes of this test still running after stop: {leftovers}"

    report = json.loads((out / "report.json").read_text())
    print(
        f"secure loopback: nodes ready {t_ready:.1f} s, flwr run done {t_run:.1f} s, "
        f"total {time.monotonic() - t0:.1f} s; timings {report.get('timings')}"
    )
    by_id = {o["id"]: o for o in report["owners"]}
    assert sorted(by_id) == sorted(OWNERS), report[
        "owners"
    ]  # not the intruder, no anonymous node-*
    assert all(o["status"] == "ok" for o in by_id.values()), report["owners"]
    ranks = sorted(
        o["rank"] for o in by_id.values()
    )  # equal utility and test accuracy share a rank
    assert ranks[0] == 1 and all(1 <= r <= 3 for r in ranks)
    assert by_id["rich"]["rank"] < by_id["unrelated"]["rank"], report["owners"]
    assert report["budget"] == 16
    assert report["scenario"] == "secure-loopback"
