"""Wall time of `mycroft-fl simulate digits` on a two-node Ray cluster on loopback, against a local
Ray instance; record it in BENCHMARKS.md.

The cluster is `ray.cluster_utils.Cluster`: a head of 1 CPU and a worker of 1 CPU and one unit of
`trainer` (so one client actor per node and the valuation tasks on the worker), in a private
RAY_TMPDIR, stopped with `cluster.shutdown()`. Each run is `mycroft-fl simulate digits --budget 8
--seed 3 --quiet` as a subprocess, alternating local and cluster runs; report.json's `timings` give the
query and valuation phases.

Run: .venv/bin/python scripts/bench_ray_cluster.py [--runs 3] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks_md import write_section  # noqa: E402

from mycroft_fl.flower.simulation import TRAINER  # noqa: E402

SECTION = "## Two-node Ray cluster on loopback"
CLI = Path(sys.executable).parent / "mycroft-fl"


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


def median(runs: list[dict[str, float]], key: str) -> str:
    """The median of `key` over `runs`, and its range."""
    values = [r[key] for r in runs]
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> None:
    """Measure, print, and write the section unless --no-write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    # private temp dirs: a local ray.init finding the cluster's address file would try to join it
    local_tmp, cluster_tmp = (tempfile.mkdtemp(prefix="r", dir="/tmp") for _ in range(2))
    os.environ["RAY_TMPDIR"] = cluster_tmp
    os.environ.pop("RAY_ADDRESS", None)
    from ray.cluster_utils import Cluster

    t0 = time.perf_counter()
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    results: dict[str, list[dict[str, float]]] = {
        "local Ray instance (2 CPUs)": [],
        "2-node cluster": [],
    }
    load = [os.getloadavg()[0]]
    try:
        cluster.add_node(num_cpus=1, resources={TRAINER: 1})
        cluster.wait_for_nodes()
        start = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                results["local Ray instance (2 CPUs)"].append(run(Path(tmp) / f"l{i}", local_tmp))
                results["2-node cluster"].append(
                    run(Path(tmp) / f"c{i}", cluster_tmp, "--ray-address", cluster.address)
                )
    finally:
        cluster.shutdown()
    load.append(os.getloadavg()[0])
    rows = [
        f"| {name} | {median(r, 'wall_s')} | {median(r, 'query_s')} | {median(r, 'valuation_s')} |"
        for name, r in results.items()
    ]
    text = "\n".join(
        [
            SECTION,
            "",
            "`mycroft-fl simulate digits --budget 8 --seed 3` (5 owners), as a subprocess, on a local Ray "
            "instance and with `--ray-address` on a `ray.cluster_utils.Cluster` on loopback: a head of 1 CPU "
            "and a worker of 1 CPU and one `trainer` unit (one client actor per node, the valuation tasks on "
            f"the worker). Median (range) of {args.runs} runs each, alternating; the cluster itself took "
            f"{start:.1f} s to start (not counted). Query and valuation: report.json `timings`. "
            "tests/test_simulation_scale.py checks on such a cluster that owners answered from both nodes, "
            "the valuation tasks ran on the worker, and the report is the in-process one. A local run "
            "starts its Ray instance (in its wall time and query phase); a cluster run finds Ray running.",
            "",
            "| Ray | wall (s) | query (s) | valuation (s) |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared with other work (load average "
            f"1 min {load[0]:.1f} before, {load[1]:.1f} after); Python {platform.python_version()}.",
            "",
            "Command: `.venv/bin/python scripts/bench_ray_cluster.py`",
        ]
    )
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
