"""`flwr run .`: the ServerApp's run config, and the app on the local simulation engine.

`flwr run` starts a detached local SuperLink that outlives the command; the slow tests isolate it on
free ports and a private FLWR_HOME, and stop it by its PID (found by that FLWR_HOME path) afterwards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from flower_fakes import FakeGrid
from flower_procs import (
    REPO,
    VENV_BIN,
    alive,
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
    assert scenario_location("simulations/digits.toml") == APP_DIR / "simulations/digits.toml"
    assert scenario_location("/data/study.toml") == Path("/data/study.toml")


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


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_flwr_run_default_scenario_on_local_simulation(tmp_path):
    home = tmp_path / "flwr-home"
    home.mkdir()
    out = tmp_path / "out"
    http_port, control_port = free_ports(2)
    env = flower_env(
        home,
        FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=str(http_port),
        FLWR_LOCAL_CONTROL_API_PORT=str(control_port),
    )
    t0 = time.monotonic()
    with owned_processes(tmp_path, str(tmp_path)) as procs:
        run = procs.start(
            "flwr-run",
            [
                str(VENV_BIN / "flwr"),
                "run",
                str(REPO),
                "--stream",
                "--federation-config",
                "num-supernodes=5 client-resources-num-cpus=1",
                "-c",
                f"out='{out}'",
            ],
            env=env,
            cwd=tmp_path,
        )
        try:
            rc = run.wait(timeout=240)
        except Exception:
            pytest.fail("flwr run did not finish within 240 s\n" + procs.logs())
        t_run = time.monotonic() - t0
        log = procs.log("flwr-run")
        assert rc == 0, procs.logs()
        assert f"127.0.0.1:{http_port}" in log, (
            log
        )  # our isolated local SuperLink, not a developer's one
        assert "Traceback" not in log, log

        links = _local_superlinks(home)
        assert len(links) == 1, f"expected one local SuperLink for {home}, found {links}\n{log}"
        assert not kill_pids(links), "the local SuperLink survived SIGTERM and SIGKILL"
        assert not alive(links[0])
        leftovers = wait_gone(
            marked_processes(str(tmp_path)), 15
        )  # SuperExec, simulation, Ray: end with it
        assert not leftovers, (
            f"processes of this test still running after the SuperLink stopped: {leftovers}"
        )

    report = json.loads((out / "report.json").read_text())
    print(f"flwr run (simulation, 5 nodes): {t_run:.1f} s; timings {report.get('timings')}")
    assert report["scenario"] == "digits"
    owners = report["owners"]
    assert len(owners) == 5, owners
    assert {o["id"] for o in owners} == {
        "specialist",
        "generalist",
        "sparse",
        "unrelated",
        "noisy",
    }, owners
    assert all(o["status"] == "ok" for o in owners), owners
    ranks = sorted(o["rank"] for o in owners)  # equal utility and test accuracy share a rank
    assert ranks[0] == 1 and all(1 <= r <= 5 for r in ranks)
    assert all(0 <= o["shared"] <= report["budget"] for o in owners), owners
    for key in ("hard_accuracy", "test_accuracy", "hard_query", "hard_eval"):
        assert key in report["trainer"], report["trainer"]
