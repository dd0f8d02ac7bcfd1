"""`mycroft-fl simulate` end to end on Flower's simulation engine, and its handling of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mycroft_fl.core.data import save_npz
from mycroft_fl.scenarios.spec import load_scenario

CLI = [sys.executable, "-m", "mycroft_fl.cli.main"]


def simulate(*args: str, timeout: float = 480) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "simulate", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The digits scenario simulated twice with the same seed (each run starts its own Ray engine)."""
    outs = [tmp_path_factory.mktemp(f"run{i}") for i in range(2)]
    procs = [
        simulate(
            "simulations/digits.toml", "--budget", "8", "--seed", "3", "--out", str(o), "--quiet"
        )
        for o in outs
    ]
    for p in procs:
        assert p.returncode == 0, p.stderr[-2000:]
    return procs, [json.loads((o / "report.json").read_text()) for o in outs], outs


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_simulate_leave_one_out_over_flower_values_every_owner_on_all_its_data(tmp_path):
    """The data-valuation baselines through the ClientApp and the strategy's checks: every owner sends
    all of its data (every class, no budget) and gets a value."""
    proc = simulate(
        "simulations/digits.toml", "--strategy", "loo", "--out", str(tmp_path), "--quiet"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    sizes = {k: len(v) for k, v in load_scenario("digits").owners_data().items()}
    assert report["valuer"] == "loo" and report["valuation"]["retrains"] >= 2 * len(sizes) + 1
    for o in report["owners"]:
        assert o["status"] == "ok" and o["received"] == o["shared"] == sizes[o["id"]], o
        assert isinstance(o["utility"], float) and isinstance(o["rank"], int)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_simulate_ecoval_over_flower_carries_every_owners_cluster_histogram(tmp_path):
    """EcoVal through the ClientApp and the strategy's checks: the query's cluster centres reach the
    owners, each honest owner's histogram comes back in its reply (counting every sample it holds of
    the hard classes, at least what it sent), and the report shows what each owner revealed."""
    proc = simulate(
        "simulations/digits.toml", "--strategy", "ecoval", "--out", str(tmp_path), "--quiet"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    scenario = load_scenario("digits")
    hard = scenario.trainer.hard_classes
    held = {k: int(np.isin(v.y, hard).sum()) for k, v in scenario.owners_data().items()}
    assert report["valuer"] == "ecoval"
    assert report["exposure"]["total_revealed"] == sum(o["revealed"] for o in report["owners"])
    for o in report["owners"]:
        counts = np.asarray(o["histogram"])
        assert o["status"] == "ok" and o["revealed"] == counts.size > 0, o
        assert counts.sum() == held[o["id"]] >= o["shared"], o
        assert isinstance(o["utility"], float) and isinstance(o["rank"], int)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_simulate_writes_report_with_the_contract_fields(two_runs):
    procs, (report, _), (out, _) = two_runs
    assert (out / "report.md").is_file() and (out / "ranking.png").stat().st_size > 1000
    assert (
        report["scenario"] == "digits" and report["strategy"] == "mycroft" and report["budget"] == 8
    )
    assert report["seed"] == 3
    t = report["trainer"]
    assert isinstance(t["hard_accuracy"], float) and isinstance(t["test_accuracy"], float)
    assert t["hard_query"] > 0 and t["hard_eval"] > 0
    ids = {o.id for o in load_scenario("digits").owners}
    assert {o["id"] for o in report["owners"]} == ids
    for o in report["owners"]:
        assert o["status"] == "ok" and isinstance(o["rank"], int)
        assert 0 <= o["shared"] <= 8
        assert isinstance(o["hard_accuracy"], float) and isinstance(o["test_accuracy"], float)
        assert o["utility"] == pytest.approx(o["hard_accuracy"] - t["hard_accuracy"])
    assert sorted(o["rank"] for o in report["owners"])[0] == 1
    c = report["combined"]
    assert (
        set(c["owners"]) <= ids
        and isinstance(c["hard_accuracy"], float)
        and c["shared"] <= 8 * len(c["owners"])
    )
    assert report["timings"]["total_s"] > 0
    assert "rank" in procs[0].stdout and "specialist" in procs[0].stdout  # the ranking table


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_simulated_report_loads_back_and_writes_the_same_report_json(two_runs, tmp_path):
    from mycroft_fl import Report

    _, (report, _), (out, _) = two_runs
    loaded = Report.load(out / "report.json")
    assert loaded.to_dict() == report and loaded.scenario == "digits"
    again = loaded.write(tmp_path)
    assert again.read_text() == (out / "report.json").read_text()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_same_seed_gives_the_same_report(two_runs):
    _, (a, b), _ = two_runs
    a.pop("timings"), b.pop("timings")
    a["valuation"].pop("seconds"), b["valuation"].pop("seconds")
    for r in (a, b):
        for o in r["owners"]:
            o.pop("selection_s", None)
    assert a == b


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_flower_transport_changes_nothing(two_runs):
    """The simulation over Flower gives exactly what the in-process engine gives."""
    from mycroft_fl.trainer.in_process import acquire
    from mycroft_fl.trainer.strategy_config import resolve_strategy
    from mycroft_fl.trainer.trainer import Trainer

    _, (report, _), _ = two_runs
    sc = load_scenario("digits")
    local = acquire(
        Trainer(sc.trainer_data(), sc.trainer, seed=3),
        sc.owners_data(),
        resolve_strategy("mycroft", 8),
    )
    by_id = {o["id"]: o for o in local.to_dict()["owners"]}
    for o in report["owners"]:
        assert (o["utility"], o["shared"], o["rank"]) == (
            by_id[o["id"]]["utility"],
            by_id[o["id"]]["shared"],
            by_id[o["id"]]["rank"],
        ), o["id"]


@pytest.fixture
def file_scenario(tmp_path):
    """A scenario of the user's own files, with a hook to break one of them."""
    rng = np.random.default_rng(0)
    from mycroft_fl.core.data import Dataset

    def data(n):
        return Dataset(rng.random((n, 4), dtype=np.float32), rng.integers(0, 3, n))

    for name in ("train", "val", "test", "owner"):
        save_npz(tmp_path / f"{name}.npz", data(30))
    path = tmp_path / "study.toml"
    path.write_text(
        'name = "study"\n[trainer]\ntrain = "train.npz"\nval = "val.npz"\ntest = "test.npz"\n'
        'n_classes = 3\n[[owners]]\nid = "a"\ndata = "owner.npz"\n'
    )
    return path


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mycroft-fl: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0]


def test_missing_scenario_file():
    assert_one_line_error(simulate("no/such/scenario.toml"), "no/such/scenario.toml", "no such")


def test_a_strategy_file_with_a_zero_ridge_is_refused_before_anything_runs(tmp_path):
    path = tmp_path / "flat.toml"
    path.write_text('[selector]\nname = "gradmatch"\nridge = 0\n')
    assert_one_line_error(
        simulate("digits", "--strategy", str(path)), str(path), "ridge must be a number > 0, got 0"
    )


def test_settle_is_refused_before_anything_runs_where_it_cannot_work():
    assert_one_line_error(simulate("digits", "--settle", "0"), "--settle", "0")
    assert_one_line_error(
        simulate("digits", "--settle", "2", "--strategy", "loo"),
        "strategy 'loo': settle needs a budgeted selector and the retrain valuer",
    )


def test_missing_owner_file(file_scenario):
    (file_scenario.parent / "owner.npz").unlink()
    assert_one_line_error(simulate(str(file_scenario)), "owner.npz", "no such file")


def test_npz_without_x(file_scenario):
    np.savez(file_scenario.parent / "owner.npz", y=np.zeros(3, dtype=np.int64))
    assert_one_line_error(simulate(str(file_scenario)), "owner.npz", "'x'")


def test_labels_out_of_range(file_scenario):
    np.savez(
        file_scenario.parent / "owner.npz", x=np.zeros((3, 4), np.float32), y=np.array([0, 1, 7])
    )
    assert_one_line_error(simulate(str(file_scenario)), "owner.npz", "labels outside 0..2")


def test_simulate_without_the_images_extra_is_the_trainers_error_before_anything_runs(tmp_path):
    """The fashion scenario's owners embed with EfficientNet-Lite0: without the `images` extra no
    owner could answer, so the run ends at once with one line, not with 9 failed owners."""
    pytest.importorskip("mycroft_fl.scenarios.sources").load_source(
        "fashion"
    )  # the data, else skip
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "efficientnet_lite_pytorch.py").write_text('raise ImportError("not installed")\n')
    env = {**os.environ, "PYTHONPATH": str(hidden)}
    proc = subprocess.run(
        [*CLI, "simulate", "fashion", "--quiet", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert_one_line_error(proc, "efficientnet-lite0", "pip install 'mycroft-fl[images]'")
    assert not (tmp_path / "out").exists()


def test_a_private_simulation_whose_embeddings_reveal_the_hard_samples_is_refused():
    assert_one_line_error(
        simulate("digits", "--private"), "embedder 'raw' reveals the hard samples", "--allow"
    )


def test_unknown_strategy():
    assert_one_line_error(
        simulate("simulations/digits.toml", "--strategy", "best-ever"), "best-ever", "mycroft"
    )


def test_budget_zero():
    assert_one_line_error(simulate("simulations/digits.toml", "--budget", "0"), "--budget")


@pytest.mark.timeout(300)
def test_compare_runs_the_scenario_with_a_trainer_that_names_no_hard_classes(tmp_path):
    done = subprocess.run(
        [
            *CLI,
            "compare",
            "digits",
            "--no-hard-classes",
            "--strategies",
            "random",
            "--budgets",
            "4",
            "--seeds",
            "1",
            "--quiet",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert doc["scenario"] == "digits-all-classes"
    hard = doc["trainers"][0]["hard_classes"]
    assert len(hard) > 2  # the baseline errs in more classes than the named 8 and 9
