"""Wall time and memory of a real Flower deployment on loopback with many SuperNodes; record them in
BENCHMARKS.md ("## Deployment on loopback: many SuperNodes").

Each configuration N:K is one run of `tests/flower_procs.loopback_owners_run`, the same as
tests/test_deployment_scale.py: one `flower-superlink --database state.db`, N `flower-supernode`s
(one per owner file cut from scikit-learn's digits: even-numbered owners hold 8s and 9s, the trainer's
hard classes), then `flwr run` of this repository's apps with `max-in-flight=K` (0: every owner asked
at once) and budget 4. A thread sums, every 2 s, the RSS and PSS of every process the run started
(the SuperLink and its ServerApp, the SuperNodes, their SuperExecs and ClientApps), from /proc. The
1-minute load average is read before and after each run: the machine is shared, and a loaded machine
runs slower.

Run: .venv/bin/python scripts/bench_deployment.py [--configs 20:4,50:4,20:0] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
from bench_simulate import proc_kb  # noqa: E402
from benchmarks_md import write_section  # noqa: E402
from flower_procs import Processes, loopback_owners_run, process_tree  # noqa: E402

SECTION = "## Deployment on loopback: many SuperNodes"
INTERVAL = 2.0


class Sampler(threading.Thread):
    """Peak summed RSS and PSS (KiB) and peak process count of every process tree `procs` started."""

    def __init__(self, procs: Processes):
        super().__init__(daemon=True)
        self.procs, self.stop = procs, threading.Event()
        self.peak_rss = self.peak_pss = self.peak_procs = self.peak_clientapps = 0

    def run(self) -> None:
        while not self.stop.is_set():
            pids = {p for proc in list(self.procs.procs.values()) for p in process_tree(proc.pid)}
            self.peak_rss = max(
                self.peak_rss, sum(proc_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
            )
            self.peak_pss = max(
                self.peak_pss, sum(proc_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
            )
            self.peak_procs = max(self.peak_procs, len(pids))
            clientapps = sum(1 for p in pids if b"flwr-clientapp" in _cmdline(p))
            self.peak_clientapps = max(self.peak_clientapps, clientapps)
            self.stop.wait(INTERVAL)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def run_config(n: int, k: int) -> dict:
    samplers: list[Sampler] = []

    def start_sampling(procs: Processes) -> None:
        samplers.append(Sampler(procs))
        samplers[0].start()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-deployment-") as tmp:
        run = loopback_owners_run(
            Path(tmp),
            n,
            max_in_flight=k,
            run_timeout=1800,
            reply_timeout=120 if k == 0 else 1200,
            on_started=start_sampling,
        )
    sampler = samplers[0]
    sampler.stop.set()
    sampler.join()
    owners = (run.report or {}).get("owners", [])
    ok = sum(1 for o in owners if o["status"] == "ok" and o["id"] in run.owners)
    timings = (run.report or {}).get("timings", {})
    row = {
        "n": n,
        "k": k,
        "rc": run.rc,
        "wall_s": run.seconds,
        "query_s": timings.get("query_s"),
        "ok": ok,
        "locked": run.locked,
        "peak_pss_mb": sampler.peak_pss / 1024,
        "peak_rss_mb": sampler.peak_rss / 1024,
        "peak_procs": sampler.peak_procs,
        "peak_clientapps": sampler.peak_clientapps,
        "load": (load_before, os.getloadavg()[0]),
    }
    print(row, flush=True)
    if run.rc != 0 and k:
        print(run.logs[-5000:], file=sys.stderr)
    return row


def section(rows: list[dict], command: str) -> str:
    lines = [
        SECTION,
        "",
        f"`{command}` (scripts/bench_deployment.py), "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "flwr 1.41.0. One `flower-superlink --database state.db`, N `flower-supernode`s with an "
        "owner file each and `flwr run` of this repository's apps (budget 4, `max-in-flight` K; "
        "0: every owner asked at once), all on 127.0.0.1, as tests/test_deployment_scale.py does "
        "for 20. Wall: from the SuperLink's start to `flwr run`'s end (the SuperNodes' start-up, "
        "the trainer, the query round and the valuation); query: the ServerApp's wait for the nodes "
        "plus the query round. Memory: the peak sum over every process the run started (the "
        "SuperLink and its ServerApp, the SuperNodes, their SuperExecs and ClientApps), sampled "
        f"every {INTERVAL:g} s; RSS counts shared pages once per process, PSS divides them. "
        "The machine was shared: the 1-minute load average before and after each run is given.",
        "",
        "| SuperNodes | max-in-flight | owners answered | `database is locked` | wall (s) "
        "| query (s) | peak ClientApps | peak processes | peak PSS (MB) | peak RSS (MB) | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        q = "-" if r["query_s"] is None else f"{r['query_s']:.0f}"
        lines.append(
            f"| {r['n']} | {r['k'] or 'all'} | {r['ok']}/{r['n']} | {r['locked']} "
            f"| {r['wall_s']:.0f} | {q} | {r['peak_clientapps']} | {r['peak_procs']} "
            f"| {r['peak_pss_mb']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {r['load'][0]:.1f} -> {r['load'][1]:.1f} |"
        )
    lines.append("")
    for r in rows:
        if r["query_s"] is None:
            lines.append(
                f"- {r['n']} SuperNodes, max-in-flight {r['k'] or 'all'}: no report.json; "
                f"{r['ok']} of {r['n']} owners' replies reached a report, and the SuperLink logged "
                f"`database is locked` {r['locked']} times."
            )
    by_k: dict[int, list[dict]] = {}
    for r in rows:
        if r["query_s"] is not None:
            by_k.setdefault(r["k"], []).append(r)
    for k, same in by_k.items():
        lo, hi = min(same, key=lambda r: r["n"]), max(same, key=lambda r: r["n"])
        if hi["n"] > lo["n"]:
            per_node = (hi["peak_pss_mb"] - lo["peak_pss_mb"]) / (hi["n"] - lo["n"])
            lines.append(
                f"- max-in-flight {k}, {lo['n']} -> {hi['n']} SuperNodes: peak PSS grows by "
                f"{per_node:.0f} MB per SuperNode (with its SuperExec); the query round by "
                f"{(hi['query_s'] - lo['query_s']) / (hi['n'] - lo['n']):.1f} s per owner."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--configs",
        default="20:4,50:4,20:0",
        help="SuperNodes:max-in-flight pairs, comma-separated (0: all at once)",
    )
    ap.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args = ap.parse_args()
    configs = [tuple(int(v) for v in c.split(":")) for c in args.configs.split(",")]
    rows = [run_config(n, k) for n, k in configs]
    command = "python scripts/bench_deployment.py --configs " + args.configs
    text = section(rows, command)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
