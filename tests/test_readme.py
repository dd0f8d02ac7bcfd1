"""The README's Python examples run as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from flower_procs import marked_processes, owned_processes, wait_gone

from mycroft_fl.core.data import Dataset, save_npz
from mycroft_fl.scenarios.spec import load_scenario

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture
def digits_files(tmp_path, monkeypatch):
    sc = load_scenario("digits")
    data = sc.trainer_data()
    for name, part in (("train", data.train), ("val", data.val), ("test", data.test)):
        save_npz(tmp_path / f"{name}.npz", part)
    save_npz(tmp_path / "owner_a.npz", sc.owner_data("specialist"))
    unrelated = sc.owner_data("unrelated")
    save_npz(tmp_path / "owner_b.npz", Dataset(unrelated.x, unrelated.y))
    (tmp_path / "study.toml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# The scenario file the own-ServerApp example names: its simulated owners' data.
STUDY = """
name = "study"

[trainer]
train = "train.npz"
val = "val.npz"
test = "test.npz"

[[owners]]
id = "clinic-a"
data = "owner_a.npz"

[[owners]]
id = "clinic-b"
data = "owner_b.npz"
"""


def test_python_api_example(digits_files, capsys):
    exec(python_blocks()[0], {})
    out = capsys.readouterr().out
    assert "clinic-a 1" in out and "clinic-b 2" in out  # the owner with 8s and 9s ranks first
    assert (digits_files / "out" / "report.json").is_file()


# Runs the example's ServerApp (file argv[1]) with the owners' ClientApp on Flower's simulation engine.
SIMULATE = """
import sys

from flwr.simulation import run_simulation

from mycroft_fl.flower.client_app import app as client_app

scope = {}
exec(open(sys.argv[1]).read(), scope)
run_simulation(
    server_app=scope["app"],
    client_app=client_app,
    num_supernodes=2,
    backend_config={
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": 2, "logging_level": "ERROR", "log_to_driver": False,
                      "include_dashboard": False},
    },
)
"""


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_server_app_example_runs_in_simulation(digits_files):
    """In a process of its own (a Ray start-up that hangs is ended with its process group), with a
    private, short Ray temp dir (Ray's socket paths are limited)."""
    (digits_files / "example.py").write_text(python_blocks()[1])
    (digits_files / "simulate.py").write_text(SIMULATE)
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    env = {
        **os.environ,
        "RAY_TMPDIR": ray_tmp,
        "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
        "PYTHONPATH": str(README.parent),  # this checkout's code
        "MYCROFT_FL_README_TEST": str(digits_files),  # marks every process of this test
    }
    try:
        with owned_processes(digits_files, str(digits_files)) as procs:
            run = procs.start(
                "example",
                [sys.executable, "simulate.py", "example.py"],
                env=env,
                cwd=digits_files,
            )
            try:
                rc = run.wait(timeout=300)
            except subprocess.TimeoutExpired:
                pytest.fail("the example's simulation did not end within 300 s\n" + procs.logs())
            assert rc == 0, procs.logs()
            leftovers = wait_gone(marked_processes(str(digits_files)), 20)
            assert not leftovers, f"the simulation left processes running: {leftovers}"
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    report = json.loads((digits_files / "runs" / "mine" / "report.json").read_text())
    owners = {o["id"]: o for o in report["owners"]}
    assert sorted(owners) == ["clinic-a", "clinic-b"], owners
    assert all(o["status"] == "ok" for o in owners.values()), owners  # not "no data"
    assert owners["clinic-a"]["rank"] == 1 and owners["clinic-a"]["shared"] > 0
    assert len(report["rounds"]) == 2  # the example runs Flower's start() for two rounds
    assert len(report["trainer"]["hard_classes"]) > 2  # it names none: hard samples beyond 8 and 9
