"""The benchmarks suite (benchmarks/): the evidence benchmark on tiny settings (digits and its variant
whose trainer names no hard classes, two seeds, one budget) writes a results file stamped with the
machine probe's facts, whose section sets every figure of the evaluation protocol beside its target;
and BENCHMARKS.md is exactly what `python -m benchmarks render` makes of the committed results and
readings."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _suite():
    """The benchmarks package of this checkout, found by its path (it is run from the repository's
    root, which `pytest` alone does not put on sys.path)."""
    if "benchmarks" not in sys.modules:
        init = ROOT / "benchmarks" / "__init__.py"
        spec = importlib.util.spec_from_file_location("benchmarks", init)
        sys.modules["benchmarks"] = package = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(package)
    return [
        importlib.import_module(f"benchmarks.{m}")
        for m in ("evidence", "probe", "render", "runner")
    ]


evidence, probe, render, runner = _suite()
BENCHMARKS = sys.modules["benchmarks"].BENCHMARKS


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    argv = [
        "--quick",
        "--scenarios",
        "digits",
        "--results-dir",
        str(out),
        "--out",
        str(out / "runs"),
    ]
    written = runner.run("evidence", [*argv, "--variant", "named"], log=lambda msg: None)
    written += runner.run(
        "evidence", [*argv, "--variant", "all-classes", "--no-valuation"], log=lambda msg: None
    )
    return out, written


def test_a_quick_run_writes_stamped_results_of_both_variants(quick):
    out, written = quick
    doc = json.loads((out / "evidence.json").read_text())
    assert doc["benchmark"] == "evidence"
    assert [e["key"] for e in doc["entries"]] == ["digits/2", "digits-all-classes/2"]
    assert doc["entries"] == written
    stamp = written[0]["measured"]
    assert stamp["command"].startswith("python -m benchmarks run evidence --quick")
    assert "--variant all-classes --no-valuation" in written[1]["measured"]["command"]
    assert stamp["git"]["commit"] and stamp["machine"]["cpus"] >= 1
    assert stamp["machine"]["packages"]["torch"]
    named, variant = (e["data"] for e in written)
    assert variant["evidence"]["all_classes"] and variant["evidence"]["hard_classes"] is None
    assert {r["strategy"] for r in variant["runs"]} == {"full-information", "mycroft", "random"}
    assert {(r["strategy"], r["seed"]) for r in named["runs"]} == {
        (s, seed)
        for s in ("full-information", "mycroft", "random", "loo", "shapley")
        for seed in (0, 1)
    }
    aggs = {a["strategy"]: a for a in named["aggregates"]}
    assert aggs["shapley"]["retrains"]["mean"] == 2**5 - 1  # every non-empty coalition
    assert aggs["mycroft"]["precision_at_k_shapley"]["n"] == 2
    assert (out / "runs" / "digits" / "compare.json").is_file()  # compare's own files beside


def test_its_section_sets_the_protocol_beside_its_targets(quick):
    out, _ = quick
    text = render.build(out)
    assert text.startswith("# Benchmarks\n")
    assert text.count("## Evidence on real data") == 1
    assert text.count("| `digits` | yes [8, 9] | 2 | 6 (5%) |") == 1
    assert text.count("| `digits-all-classes` | no (every class) | 2 | 6 (5%) |") == 1
    for words in ("regret@3", "harm recall", "Mycroft − random, pts [95% CI]", "label_noise ≥ 0.5"):
        assert words in text
    assert "**MET**" in text or "**MISSED**" in text
    assert "| noisy † |" in text  # the misleading owner marked in the per-owner table
    assert "Measured by `python -m benchmarks run evidence --quick" in text


def test_plots_are_copied_where_the_section_shows_them(quick, tmp_path):
    out, _ = quick
    evidence.copy_plots(out / "runs" / "digits", "digits", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"digits_{plot}" for plot in sorted(evidence.PLOT_FILES)
    ]


def test_the_committed_benchmarks_md_is_what_render_makes_of_the_committed_results():
    text = (ROOT / "BENCHMARKS.md").read_text()
    assert render.build() == text, "BENCHMARKS.md is stale: python -m benchmarks render"


def test_a_transcript_keeps_a_section_no_runner_has_measured_with_where_it_came_from():
    transcript = {
        "key": "transcript@abcdef0",
        "recorded": {"date": "2026-12-02", "commit": "abcdef0123", "command": "old.py --seeds 3"},
        "markdown": "| a | b |\n|---|---|\n| 1 | 2 |",
    }
    text = render.section_of("selection", [transcript])
    title = runner.module("selection").TITLE
    assert text.startswith(title + "\n\n| a | b |")
    assert "Recorded 2026-12-02 at commit abcdef0 by `old.py --seeds 3`" in text


def test_a_new_run_replaces_its_own_part_and_keeps_the_others():
    entries = [{"key": "a", "data": 1}, {"key": "b", "data": 2}]
    assert runner.merge(entries, {"key": "a", "data": 3}) == [
        {"key": "a", "data": 3},
        {"key": "b", "data": 2},
    ]
    assert runner.merge(entries, {"key": "c", "data": 4})[-1] == {"key": "c", "data": 4}
    assert runner.plain({"x": (1, float("nan"))}) == {"x": [1, None]}


def test_the_evidence_benchmark_knows_which_scenarios_have_a_separate_variant():
    assert evidence.names_hard_classes("digits")
    assert not evidence.names_hard_classes("credit")  # names none
    assert not evidence.names_hard_classes("spurious")  # names both of its two classes


def test_the_probe_samples_a_process_tree_from_proc():
    code = "import time, subprocess, sys; x = bytearray(60_000_000); time.sleep(1.0)"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        with probe.MemorySampler(lambda: probe.process_tree(child.pid), 0.05) as sampler:
            time.sleep(0.6)
    finally:
        child.wait()
    assert sampler.peak_mb("VmRSS") > 55 and 0 < sampler.peak_mb("Pss") <= sampler.peak_mb("VmRSS")
    assert sampler.peak_procs == 1 and child.pid in sampler.seen
    with probe.Timer() as t:
        sum(range(10_000))
    assert t.wall >= 0 and t.cpu >= 0
