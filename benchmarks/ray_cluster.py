"""Wall time of `mycroft-fl simulate digits` on a two-node Ray cluster on loopback, against a local Ray
instance.

The cluster is `ray.cluster_utils.Cluster`: a head of 1 CPU and a worker of 1 CPU and one unit of
`trainer` (so one client actor per node and the valuation tasks on the worker), in a private
RAY_TMPDIR, stopped with `cluster.shutdown()`. Each run is `mycroft-fl simulate digits --budget 8
--seed 3 --quiet` as a subprocess, alternating local and cluster runs (`--runs` each); report.json's
`timings` give the query and valuation phases. `--quick`: one run each.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.md import Reading, paragraphs, provenance, table

TITLE = "## Two-node Ray cluster on loopback"
CLI = Path(sys.executable).parent / "mycroft-fl"
LOCAL, CLUSTER = "local Ray instance (2 CPUs)", "2-node cluster"


def add_options(parser) -> None:
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")


def run(out: Path, ray_tmp: str, *extra: str) -> dict[str, float]:
    """One simulate run with Ray's temp dir `ray_tmp`: its wall time and report.json's timings."""
    t0 = time.perf_counter()
    command = [str(CLI), "simulate", "digits", "--budget", "8", "--seed", "3", "--quiet"]
    proc = subprocess.run(
        [*command, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "RAY_TMPDIR": ray_tmp},
        timeout=300,
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return {"wall_s": wall, **json.loads((out / "report.json").read_text())["timings"]}


def measure(options) -> Iterator[tuple[str, dict]]:
    runs = 1 if options.quick else options.runs
    # private temp dirs: a local ray.init finding the cluster's address file would try to join it
    local_tmp, cluster_tmp = (tempfile.mkdtemp(prefix="r", dir="/tmp") for _ in range(2))
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "RAY_ADDRESS")}
    os.environ["RAY_TMPDIR"] = cluster_tmp
    os.environ.pop("RAY_ADDRESS", None)
    from ray.cluster_utils import Cluster

    from mycroft_fl.flower.simulation import TRAINER

    t0 = time.perf_counter()
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    results: dict[str, list[dict[str, float]]] = {LOCAL: [], CLUSTER: []}
    try:
        cluster.add_node(num_cpus=1, resources={TRAINER: 1})
        cluster.wait_for_nodes()
        start = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(runs):
                results[LOCAL].append(run(Path(tmp) / f"l{i}", local_tmp))
                results[CLUSTER].append(
                    run(Path(tmp) / f"c{i}", cluster_tmp, "--ray-address", cluster.address)
                )
    finally:
        cluster.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield "digits", {"cluster_start_s": start, "runs": results}


def _median(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs]
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def section(entries: list[dict], reading: Reading) -> str:
    entry = entries[0]
    d = entry["data"]
    n = len(d["runs"][LOCAL])
    return paragraphs(
        TITLE,
        "`mycroft-fl simulate digits --budget 8 --seed 3` (5 owners), as a subprocess, on a local Ray "
        "instance and with `--ray-address` on a `ray.cluster_utils.Cluster` on loopback: a head of 1 "
        "CPU and a worker of 1 CPU and one `trainer` unit (one client actor per node, the valuation "
        f"tasks on the worker). Median (range) of {n} runs each, alternating; the cluster itself took "
        f"{d['cluster_start_s']:.1f} s to start (not counted). Query and valuation: report.json "
        "`timings`. tests/test_simulation_scale.py checks on such a cluster that owners answered from "
        "both nodes, the valuation tasks ran on the worker, and the report is the in-process one. A "
        "local run starts its Ray instance (in its wall time and query phase); a cluster run finds Ray "
        "running.",
        table(
            ("Ray", "wall (s)", "query (s)", "valuation (s)"),
            "llll",
            (
                [name, _median(r, "wall_s"), _median(r, "query_s"), _median(r, "valuation_s")]
                for name, r in d["runs"].items()
            ),
        ),
        reading.text,
        provenance(entry),
    )
