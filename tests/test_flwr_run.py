"""`flwr run .`: the ServerApp's run config, and the app on the local simulation engine.

`flwr run` starts a detached local SuperLink that outlives the command; the slow tests isolate it on
free ports and a private FLWR_HOME, and stop it by its PID (found by that FLWR_HOME path) afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from flower_fakes import FakeGrid
from flower_procs import (
    REPO,
    VENV_BIN,
    flower_env,
    free_ports,
    kill_pids,
    marked_processes,
    owned_processes,
    wait_gone,
)
from flwr.app import Context, RecordDict

from mycroft_fl.core.errors import InputError
from mycroft_fl.core.tomlfile import read_toml
from mycroft_fl.flower.server_app import APP_DIR, RUN_DEFAULTS, main, scenario_location
from mycroft_fl.trainer.report import schema_problem


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "run_config, message",
    [
        ({"budgte": 16}, "run config: unknown key 'budgte'"),
        ({"budget": -3}, "run config: budget must be an integer >= 0, got -3"),
        ({"budget": 16.5}, "run config: budget must be an integer >= 0, got 16.5"),
        ({"seed": -2}, "run config: seed must be an integer >= -1"),
        ({"wait-timeout": 0.0}, "run config: wait-timeout must be a number > 0"),
        ({"private": "yes"}, "run config: private must be true or false"),
        ({"strategy": ""}, "run config: strategy must be a non-empty string"),
        ({"scenario": "simulations/none.toml"}, "none.toml: no such scenario file"),
    ],
)
def test_server_app_refuses_a_bad_run_config_in_one_line_naming_the_key(run_config, message):
    """Under `flwr run` a bad value would otherwise surface as Flower's exit code only."""
    context = Context(
        run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config
    )
    with pytest.raises(InputError) as err:
        main(FakeGrid({}, {}), context)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_run_config_defaults_are_the_apps():
    """Under run_simulation the run config is empty: the ServerApp's defaults must be pyproject's."""
    assert read_toml(REPO / "pyproject.toml")["tool"]["flwr"]["app"]["config"] == RUN_DEFAULTS


def test_scenario_is_a_shipped_name_or_a_path_relative_to_the_app():
    assert scenario_location("clinics") == "clinics"  # found with its data files, not in the bundle
    assert scenario_location("simulations/clinics.toml") == "clinics"
    assert scenario_location("studies/mine.toml") == APP_DIR / "studies/mine.toml"
    assert scenario_location("/data/study.toml") == Path("/data/study.toml")


GUIDE = REPO / "docs" / "guides" / "flwr-run.md"


def guide_bash() -> list[str]:
    """The bash blocks of the `flwr run .` guide, as a user would paste them."""
    return re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.S)


def _local_superlinks(home: Path) -> list[int]:
    """PIDs of the local SuperLink that `flwr run` started for this FLWR_HOME."""
    out = []
    for pid in marked_processes(str(home)):
        try:
            cmd = (
                Path(f"/proc/{pid}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except OSError:
            continue
        if "flower-superlink" in cmd and f"{home}/local-superlink" in cmd:
            out.append(pid)
    return out


@pytest.fixture
def local_flower(tmp_path):
    """An environment for `flwr run` with its own local SuperLink (free ports, private FLWR_HOME and
    Ray temp dir); yields (env, processes). Afterwards every process marked with this test's tmp path
    (the SuperLink, SuperExec, simulation, Ray) is ended by its PID."""
    home = tmp_path / "flwr-home"
    home.mkdir()
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths are limited
    http_port, control_port = free_ports(2)
    env = flower_env(
        home,
        FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=str(http_port),
        FLWR_LOCAL_CONTROL_API_PORT=str(control_port),
        RAY_TMPDIR=ray_tmp,
    )
    with owned_processes(tmp_path, str(tmp_path)) as procs:
        yield env, procs
    shutil.rmtree(ray_tmp, ignore_errors=True)


def _finish(procs, name: str, timeout: float) -> str:
    """Wait for process `name`; its log, after checking it succeeded without a traceback."""
    try:
        rc = procs.procs[name].wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not finish within {timeout:g} s\n" + procs.logs())
    log = procs.log(name)
    assert rc == 0 and "Traceback" not in log, procs.logs()
    return log


def _check_report(path: Path, scenario: str, owners: set[str], budget: int) -> None:
    report = json.loads(path.read_text())
    assert schema_problem(report) is None, schema_problem(report)  # written outside tmp_path too
    assert report["scenario"] == scenario and report["budget"] == budget
    assert {o["id"] for o in report["owners"]} == owners, report["owners"]
    assert all(o["status"] == "ok" for o in report["owners"]), report["owners"]
    ranks = sorted(o["rank"] for o in report["owners"])  # equal utility share a rank
    assert ranks[0] == 1 and all(1 <= r <= len(owners) for r in ranks)
    assert all(0 <= o["shared"] <= budget for o in report["owners"]), report["owners"]
    for key in ("hard_accuracy", "test_accuracy", "hard_query", "hard_eval"):
        assert key in report["trainer"], report["trainer"]


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_docs_flwr_run_command_runs_and_its_stop_command_ends_the_superlink(local_flower):
    """The guide's commands as written, from the checkout, in a shell without the venv on PATH."""
    env, procs = local_flower
    run_text, stop_text = guide_bash()
    assert "flwr run ." in run_text and "kill" in stop_text
    venv_bin = VENV_BIN.resolve()
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if p and Path(p).resolve() != venv_bin
    )
    for key in ("VIRTUAL_ENV", "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"):
        env.pop(key, None)  # the guide's command sets what it needs
    home = Path(env["FLWR_HOME"])
    report = REPO / "runs" / "flwr" / "report.json"  # where the guide's command writes it
    t0 = time.time()
    procs.start("guide-run", ["bash", "-c", run_text], env=env, cwd=REPO)
    log = _finish(procs, "guide-run", 300)
    print(f"the guide's flwr run (simulation, 5 nodes): {time.time() - t0:.1f} s")
    assert f"127.0.0.1:{env['FLWR_LOCAL_SUPERLINK_HTTP_API_PORT']}" in log, log  # ours, isolated
    assert report.stat().st_mtime >= t0, "the run wrote no new report"
    _check_report(
        report, "digits", {"specialist", "generalist", "sparse", "unrelated", "noisy"}, 16
    )

    links = _local_superlinks(home)
    assert len(links) == 1, f"expected one local SuperLink for {home}, found {links}\n{log}"
    stop = subprocess.run(
        ["bash", "-c", stop_text], env=env, cwd=REPO, timeout=30, capture_output=True, text=True
    )
    assert stop.returncode == 0, stop.stderr
    assert not wait_gone(links, 15), "the guide's stop command left the local SuperLink running"
    leftovers = wait_gone(marked_processes(str(home.parent)), 20)  # SuperExec, simulation, Ray
    assert not leftovers, f"processes still running after the SuperLink stopped: {leftovers}"


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_flwr_run_a_shipped_scenario_with_data_files_and_a_misspelt_key(local_flower, tmp_path):
    """A shipped scenario's .npz files are not in the app bundle: by name it is found with them."""
    env, procs = local_flower
    out = tmp_path / "out"
    flwr = [str(VENV_BIN / "flwr"), "run", str(REPO), "--stream"]
    nodes = ["--federation-config", "num-supernodes=5 client-resources-num-cpus=1"]
    procs.start(
        "clinics",
        [*flwr, *nodes, "-c", f"scenario='clinics' budget=8 out='{out}'"],
        env=env,
        cwd=tmp_path,
    )
    _finish(procs, "clinics", 300)
    owners = {f"clinic-{k}" for k in ("specialist", "generalist", "sparse", "unrelated", "noisy")}
    _check_report(out / "report.json", "clinics", owners, 8)

    # Flower refuses a key the app does not declare before the app runs (the guide: check its spelling)
    procs.start("misspelt", [*flwr, "-c", "budgte=8"], env=env, cwd=tmp_path)
    try:
        procs.procs["misspelt"].wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("flwr run with a misspelt key did not end\n" + procs.logs())
    assert "Invalid run configuration" in procs.log("misspelt"), procs.logs()
    links = _local_superlinks(Path(env["FLWR_HOME"]))
    assert len(links) == 1 and not kill_pids(links)
