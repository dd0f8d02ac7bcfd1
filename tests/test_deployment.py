"""A real Flower deployment on loopback: one SuperLink, three SuperNodes (one per owner file), `flwr run`.

The ServerApp and ClientApp are the same ones `flwr run .` uses in simulation; here each owner's data
reaches its SuperNode only through `--node-config 'data-path="..."'`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from flower_procs import (REPO, VENV_BIN, flower_env, free_ports, marked_processes, owned_processes, wait_gone,
                          wait_http, write_connection)

HARD = (8, 9)


def _write_files(d: Path) -> Path:
    """Trainer train/val/test and three owner files cut from scikit-learn's digits; returns the scenario."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    rng = np.random.default_rng(0)
    pool = {c: list(rng.permutation(np.flatnonzero(y == c))) for c in range(10)}

    def save(name: str, counts: dict[int, int]) -> None:
        idx = []
        for c, n in counts.items():
            idx += pool[c][:n]
            del pool[c][:n]
        idx = rng.permutation(np.array(idx))
        np.savez(d / f"{name}.npz", x=x[idx], y=y[idx])

    save("trainer_train", {c: 3 if c in HARD else 25 for c in range(10)})  # thin in the hard classes
    save("trainer_val", {c: 40 for c in range(10)})
    save("trainer_test", {c: 40 for c in range(10)})
    save("rich", {**{c: 8 for c in range(8)}, 8: 30, 9: 30})  # half of it 8s and 9s
    save("unrelated", {c: 15 for c in range(8)})  # no 8 or 9 at all
    save("mixed", {c: 12 for c in range(10)})  # in between
    scenario = d / "scenario.toml"
    scenario.write_text(
        'name = "loopback"\nseed = 0\n\n[trainer]\ntrain = "trainer_train.npz"\nval = "trainer_val.npz"\n'
        'test = "trainer_test.npz"\nmodel = "mlp"\nembedder = "raw"\nhard_classes = [8, 9]\n\n'
        '[[owners]]\nid = "rich"\ndata = "rich.npz"\n\n'
        '[[owners]]\nid = "unrelated"\ndata = "unrelated.npz"\n\n'
        '[[owners]]\nid = "clinic-mixed"\ndata = "mixed.npz"\n'
    )
    return scenario


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_loopback_deployment_ranks_owners(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    scenario = _write_files(data)
    out = tmp_path / "out"
    home = tmp_path / "flwr-home"
    link_port, *node_ports = free_ports(4)
    write_connection(home, "loopback", link_port)
    env = flower_env(home)
    # each SuperNode installs the app under its own FLWR_HOME (no race on one apps/ directory)
    owners = [  # (node config, expected owner id): the id comes from the file's stem unless owner-id is given
        (f'data-path="{data / "rich.npz"}"', "rich"),
        (f'data-path="{data / "unrelated.npz"}"', "unrelated"),
        (f'data-path="{data / "mixed.npz"}" owner-id="clinic-mixed"', "clinic-mixed"),
    ]
    t0 = time.monotonic()
    with owned_processes(tmp_path, str(tmp_path)) as procs:
        cwd = tmp_path / "superlink"
        cwd.mkdir()
        link = procs.start("superlink", [
            str(VENV_BIN / "flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(link_port),
            "--disable-runtime-dependency-installation", "--database", str(tmp_path / "state.db"),
        ], env=env, cwd=cwd)
        wait_http(f"http://127.0.0.1:{link_port}/health", 60, link)  # else the SuperNodes exit at once
        for i, ((node_config, _), port) in enumerate(zip(owners, node_ports)):
            cwd = tmp_path / f"supernode-{i}"
            cwd.mkdir()
            procs.start(f"supernode-{i}", [
                str(VENV_BIN / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{link_port}",
                "--port", str(port), "--node-config", node_config,
            ], env=flower_env(cwd / "flwr-home"), cwd=cwd)
        run = procs.start("flwr-run", [
            str(VENV_BIN / "flwr"), "run", str(REPO), "loopback", "--stream",
            "-c", f"scenario='{scenario}' out='{out}' budget=16",
        ], env=env, cwd=tmp_path)
        try:
            rc = run.wait(timeout=180)
        except Exception:
            pytest.fail("flwr run did not finish within 180 s\n" + procs.logs())
        t_run = time.monotonic() - t0
        assert rc == 0, procs.logs()
        assert (out / "report.json").is_file(), procs.logs()
        for name, proc in procs.procs.items():  # nothing crashed along the way
            assert name == "flwr-run" or proc.poll() is None, f"{name} exited early\n" + procs.logs()
        assert "Traceback" not in procs.log("flwr-run"), procs.logs()

        survivors = procs.stop_all()
        assert not survivors, f"processes survived SIGTERM/SIGKILL: {survivors}"
        leftovers = wait_gone(marked_processes(str(tmp_path)), 10)
        assert not leftovers, f"processes of this test still running after stop: {leftovers}"

    report = json.loads((out / "report.json").read_text())
    print(f"flwr run on loopback: {t_run:.1f} s (total {time.monotonic() - t0:.1f} s); "
          f"timings {report.get('timings')}")
    by_id = {o["id"]: o for o in report["owners"]}
    assert sorted(by_id) == sorted(owner for _, owner in owners), report["owners"]
    assert all(o["status"] == "ok" for o in by_id.values()), report["owners"]
    ranks = sorted(o["rank"] for o in by_id.values())  # equal utility and test accuracy share a rank
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
