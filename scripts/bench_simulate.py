"""Wall time and peak memory of `mycroft-fl simulate` for 10 to 10,000 owners; record them in BENCHMARKS.md.

Scenario (file-based, written to a temporary directory): the trainer's files of the shipped example
(scripts/make_file_example.py: digits, thin in 8 and 9); each owner 30 to 60 images drawn with
replacement from the digits outside the trainer's validation and test sets, with its own class mix
(proportions from a Dirichlet(0.5) draw). Owner i is the same in every size. Strategy `mycroft`,
budget 8, the scenario's seed. simulate runs at most 100 SuperNodes: beyond 100 owners each node answers
for several (owners k, k + 100, ...), since Flower's in-memory store costs nodes x messages per scan.

Each run is `mycroft-fl simulate SCENARIO --budget 8 --quiet --out DIR` as a subprocess. A thread samples
its whole process tree (the driver, Ray's GCS, raylet and worker processes) from /proc every 0.2 s:
the summed RSS (shared pages counted once per process, so an upper bound) and the summed PSS (shared
pages divided among the processes that map them: what the run really occupies). The 1-minute load
average is read before and after each run: the machine is shared, and a loaded machine runs slower.

Run: .venv/bin/python scripts/bench_simulate.py [--owners 10,100,1000] [--runs 3,3,1] [--no-write]
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
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks_md import write_section  # noqa: E402
from make_file_example import build, write_npz  # noqa: E402

from mycroft_fl.core.data import Dataset  # noqa: E402

SECTION = "## mycroft-fl simulate: wall time and memory"
BUDGET, INTERVAL = 8, 0.2
TARGET_SECONDS = {1000: 60.0, 10000: 900.0}  # owners: wall time at most
TARGET_PSS_MB = {10000: 4096.0}  # owners: peak PSS at most
CLI = Path(sys.executable).parent / "mycroft-fl"


def write_scenario(directory: Path, n_owners: int) -> Path:
    """A file-based scenario with the example's trainer files and `n_owners` random owners drawn (with
    replacement, each with its own class mix) from the example's clean owners' data."""
    parts = build()
    for stem in ("trainer_train", "trainer_val", "trainer_test"):
        write_npz(directory / f"{stem}.npz", parts[stem])
    pool = Dataset.concat(
        [d for stem, d in parts.items() if stem.startswith("owner_") and stem != "owner_noisy"]
    )
    n_classes = int(pool.y.max()) + 1
    by_class = [np.flatnonzero(pool.y == c) for c in range(n_classes)]
    rng = np.random.default_rng(0)
    lines = [
        f'name = "bench-{n_owners}"',
        "seed = 0",
        "",
        "[trainer]",
        'train = "trainer_train.npz"',
        'val = "trainer_val.npz"',
        'test = "trainer_test.npz"',
        'model = "mlp"',
        'embedder = "raw"',
        "hard_classes = [8, 9]",
        "",
    ]
    (directory / "owners").mkdir()
    for i in range(n_owners):
        size = int(rng.integers(30, 61))
        labels = rng.choice(n_classes, size=size, p=rng.dirichlet(np.full(n_classes, 0.5)))
        idx = np.array([rng.choice(by_class[c]) for c in labels])
        write_npz(directory / "owners" / f"owner-{i:04d}.npz", pool.subset(idx))
        lines += ["[[owners]]", f'id = "owner-{i:04d}"', f'data = "owners/owner-{i:04d}.npz"', ""]
    path = directory / "scenario.toml"
    path.write_text("\n".join(lines))
    return path


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree(root: int) -> list[int]:
    """The process and all its descendants."""
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def proc_kb(path: str, field: str) -> int:
    """The KiB figure of `field` in a /proc file (0 when the process has gone)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Peak summed RSS and PSS (KiB) and peak process count of a process tree, sampled every INTERVAL s."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.stop = root, threading.Event()
        self.peak_rss = self.peak_pss = self.peak_procs = 0
        self.last_many = (
            0.0  # the last time the tree had more than the driver: Ray was still running
        )
        self.seen: dict[int, str | None] = {}  # every process of the tree, with its command line

    def run(self) -> None:
        while not self.stop.is_set():
            pids = tree(self.root)
            for p in pids:
                if p not in self.seen:
                    self.seen[p] = _cmdline(p)
            self.peak_rss = max(
                self.peak_rss, sum(proc_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
            )
            self.peak_pss = max(
                self.peak_pss, sum(proc_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
            )
            self.peak_procs = max(self.peak_procs, len(pids))
            if len(pids) > 1:
                self.last_many = time.perf_counter()
            self.stop.wait(INTERVAL)


def run_once(scenario: Path, out: Path) -> dict:
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(CLI), "simulate", str(scenario), "--budget", str(BUDGET), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    lines = []  # (seconds since start, line): the progress lines say when the first and the last reply came
    for line in proc.stdout:
        lines.append((time.perf_counter() - start, line.rstrip("\n")))
    proc.wait()
    wall = time.perf_counter() - start
    output = "\n".join(text for _, text in lines)
    sampler.stop.set()
    sampler.join()
    load_after = os.getloadavg()[0]
    if proc.returncode != 0:
        raise SystemExit(f"mycroft-fl simulate failed (exit {proc.returncode}):\n{output[-3000:]}")
    time.sleep(
        2.0
    )  # Ray's processes exit shortly after the driver; any still there after that are reported
    left = sorted(p for p, cmd in sampler.seen.items() if p != proc.pid and _cmdline(p) == cmd)
    report = json.loads((out / "report.json").read_text())
    owners = report["owners"]
    timings = {k: report["timings"][k] for k in ("total_s", "query_s", "valuation_s")}
    replies = [  # (seconds, replies in, replies expected): one reply per node, for all its owners
        (t, *map(int, text.split()[2].split("/")))
        for t, text in lines
        if text.startswith("querying owners:")
    ]
    (first, k_first, nodes), (last, _, _) = replies[0], replies[-1]
    strategy_start = last - timings["query_s"]  # the query ends when the last reply is in
    ray_gone = sampler.last_many - start
    phases = {
        "startup_s": strategy_start,
        "first_reply_s": first - strategy_start,
        "replies_s": last - first,
        "per_reply_ms": 1000 * (last - first) / max(len(owners) * (1 - k_first / nodes), 1),
        "shutdown_s": ray_gone - strategy_start - timings["total_s"],
        "exit_s": wall - ray_gone,
    }
    return {
        "wall_s": wall,
        **timings,
        **phases,
        "rss_mb": sampler.peak_rss / 1024,
        "pss_mb": sampler.peak_pss / 1024,
        "procs": sampler.peak_procs,
        "ok": sum(o["status"] == "ok" for o in owners),
        "owners": len(owners),
        "selection_s": sum(o.get("selection_s", 0.0) for o in owners),
        "load_before": load_before,
        "load_after": load_after,
        "leftover": left,
    }


def time_baseline() -> float:
    """Seconds for the trainer's baseline training and query alone (what the strategy does before the first
    message), on the bench scenario's files, with one torch thread as in the simulation."""
    import torch

    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.strategy_config import load_strategy
    from mycroft_fl.trainer.trainer import Trainer

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-simulate-baseline-") as tmp:
        scenario = load_scenario(write_scenario(Path(tmp), 1))
        data = scenario.trainer_data()
        start = time.perf_counter()
        Trainer(data, scenario.trainer, seed=scenario.seed).query(
            load_strategy("mycroft", budget=BUDGET)
        )
        return time.perf_counter() - start


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return None


def _csv(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--owners", type=_csv, default=[10, 100, 1000])
    parser.add_argument(
        "--runs", type=_csv, default=[3, 3, 1], help="runs per owner count (the median is reported)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone"
    )
    args = parser.parse_args()
    if len(args.runs) != len(args.owners):
        parser.error("--runs needs one number per --owners entry")

    baseline_s = time_baseline()
    print(f"trainer baseline and query, alone: {baseline_s:.1f} s", flush=True)
    rows = []
    for n, runs in zip(args.owners, args.runs):
        with tempfile.TemporaryDirectory(prefix=f"bench-simulate-{n}-") as tmp:
            scenario = write_scenario(Path(tmp), n)
            results = []
            for r in range(runs):
                res = run_once(scenario, Path(tmp) / f"out-{r}")
                results.append(res)
                print(
                    f"{n} owners, run {r + 1}/{runs}: wall {res['wall_s']:.1f} s = start-up {res['startup_s']:.1f} "
                    f"+ to first reply {res['first_reply_s']:.1f} + first to last reply {res['replies_s']:.1f} "
                    f"+ valuation {res['valuation_s']:.1f} + Ray shutdown {res['shutdown_s']:.1f} + report and exit "
                    f"{res['exit_s']:.1f} "
                    f"(owners' own selection {res['selection_s']:.1f} s in all); peak RSS {res['rss_mb']:.0f} MB, "
                    f"PSS {res['pss_mb']:.0f} MB, {res['procs']} processes; {res['ok']}/{res['owners']} owners ok; "
                    f"load {res['load_before']:.2f} -> {res['load_after']:.2f}"
                    + (f"; LEFT RUNNING: {res['leftover']}" if res["leftover"] else ""),
                    flush=True,
                )
        med = {k: statistics.median(r[k] for r in results) for k in results[0] if k != "leftover"}
        rows.append((n, runs, med, results))

    def loads(results):
        return ", ".join(f"{r['load_before']:.1f}→{r['load_after']:.1f}" for r in results)

    def spread(res, key):
        return (
            f" ({min(r[key] for r in res):.1f}–{max(r[key] for r in res):.1f})"
            if len(res) > 1
            else ""
        )

    table = [
        "| owners | runs | wall (s) | peak RSS sum (MB) | peak PSS sum (MB) | processes "
        "| load avg 1 min, before→after each run |",
        "|---|---|---|---|---|---|---|",
    ] + [
        f"| {n:,} | {'median of ' + str(runs) if runs > 1 else '1 run'} | {m['wall_s']:.1f}{spread(res, 'wall_s')} "
        f"| {m['rss_mb']:,.0f} | {m['pss_mb']:,.0f} | {m['procs']:.0f} | {loads(res)} |"
        for n, runs, m, res in rows
    ]
    phases = [
        "| owners | start-up (s) | strategy start → first reply (s) | first → last reply (s) | per owner (ms) "
        "| valuation (s) | per owner (ms) | Ray shutdown (s) | report and exit (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ] + [
        f"| {n:,} | {m['startup_s']:.1f} | {m['first_reply_s']:.1f} | {m['replies_s']:.1f} "
        f"| {format(m['per_reply_ms'], '.0f') if m['per_reply_ms'] >= 0.5 else '–'} | {m['valuation_s']:.1f} "
        f"| {1000 * m['valuation_s'] / n:.0f} "
        f"| {m['shutdown_s']:.1f} | {m['exit_s']:.1f} |"
        for n, runs, m, res in rows
    ]
    verdicts = []
    for n, _, m, _ in rows:
        if n in TARGET_SECONDS:
            ok = m["wall_s"] <= TARGET_SECONDS[n]
            verdicts.append(
                f"{n:,} owners in {TARGET_SECONDS[n]:g} s: {'met' if ok else 'MISSED'} "
                f"({m['wall_s']:.0f} s)"
            )
        if n in TARGET_PSS_MB:
            ok = m["pss_mb"] <= TARGET_PSS_MB[n]
            verdicts.append(
                f"{n:,} owners in {TARGET_PSS_MB[n]:,.0f} MB PSS: {'met' if ok else 'MISSED'} "
                f"({m['pss_mb']:,.0f} MB)"
            )
    verdict = "; ".join(verdicts) or "no target size measured"
    print("\n".join(table))
    print("\n".join(phases))
    print(f"targets: {verdict}")
    if args.no_write:
        return
    import flwr
    import ray
    import torch

    runs_text = ", ".join(
        f"{n:,} owners: {'median of ' + str(r) + ' runs' if r > 1 else '1 run'}"
        for n, r, _, _ in rows
    )
    write_section(
        f"{SECTION}\n\n"
        f"`mycroft-fl simulate` on a file-based scenario: the trainer's files of the shipped example (digits, thin "
        f"in 8 and 9) and N owners of 30–60 digits images each (drawn with replacement, each with its own class mix "
        f"from a Dirichlet(0.5) draw); strategy `mycroft`, budget {BUDGET}. {runs_text}. "
        "At most 100 simulated SuperNodes: beyond 100 owners each node answers for several, each owner "
        "in its own part of the node's reply (Flower's in-memory store is scanned by every node every "
        "0.1 s, each scan walking every message). "
        f"Targets: **{verdict}**.\n\n"
        f"- Memory: the command's whole process tree (driver, Ray GCS, raylet, workers) sampled from /proc every "
        f"{INTERVAL} s; RSS summed over processes counts shared pages (torch, Ray) once per process and overstates, "
        "PSS shares them out and is what the run occupies.\n"
        "- Where the time goes (medians of each phase): *start-up* = process start to the strategy's start "
        "(imports, checking every file); *strategy start → first reply* = the trainer's baseline and query, sending "
        "the query to every node, and meanwhile (Flower starts the engine next to the ServerApp) starting Ray and "
        "its actors, which import torch before the first owner can answer; "
        "*first → last reply* = the other nodes answering, per owner = that over the owners they answer for "
        "(replies are pulled every 0.2 s, so the first pull may bring several; – when it brought all); "
        "*valuation* = report.json "
        "`valuation_s` (one retraining per owner plus the combined model); *Ray shutdown* = until only the driver "
        "process is left; *report and exit* = writing report.json/md/png, then the interpreter's exit. "
        "report.json `timings.query_s` = the second and third phases.\n"
        f"- The trainer's own baseline training and query, timed alone in this script's process on the same files "
        f"(one torch thread, as in the simulation): {baseline_s:.1f} s; it runs while Ray starts.\n\n"
        + "\n".join(table)
        + "\n\n"
        + "\n".join(phases)
        + f"\n\nMachine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, shared with other work "
        f"(load averages above); Python {platform.python_version()}, Flower {flwr.__version__}, Ray {ray.__version__}, "
        f"torch {torch.__version__}.\n\n"
        f"Command: `.venv/bin/python scripts/bench_simulate.py {' '.join(sys.argv[1:])}`\n"
    )


if __name__ == "__main__":
    main()
