"""`mycroft-fl simulate`: wall time and peak memory for 1,000 and 10,000 owners (`--owners`, `--runs`).

Scenario (file-based, written to a temporary directory): the trainer's files of the shipped example
(benchmarks/file_example.py: digits, thin in 8 and 9); each owner 30 to 60 images drawn with
replacement from the digits outside the trainer's validation and test sets, with its own class mix
(proportions from a Dirichlet(0.5) draw). Owner i is the same in every size. Strategy `mycroft`,
budget 8, the scenario's seed. simulate runs at most 100 SuperNodes: beyond 100 owners each node answers
for several (owners k, k + 100, ...), since Flower's in-memory store costs nodes x messages per scan.

Each run is `mycroft-fl simulate SCENARIO --budget 8 --out DIR` as a subprocess, whose whole process tree
(the driver, Ray's GCS, raylet and worker processes) the probe samples from /proc every 0.2 s: the summed
RSS (shared pages counted once per process, so an upper bound) and the summed PSS (shared pages divided
among the processes that map them: what the run really occupies). `--quick`: 100 owners, one run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.md import Reading, paragraphs, provenance, table
from benchmarks.probe import MemorySampler, load, process_tree

TITLE = "## mycroft-fl simulate: wall time and memory"
BUDGET, INTERVAL = 8, 0.2
TARGET_SECONDS = {1000: 60.0, 10000: 900.0}  # owners: wall time at most
TARGET_PSS_MB = {10000: 4096.0}  # owners: peak PSS at most
CLI = Path(sys.executable).parent / "mycroft-fl"


def _csv(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def add_options(parser) -> None:
    parser.add_argument("--owners", type=_csv, default=[1000, 10000], help="default 1000,10000")
    parser.add_argument(
        "--runs", type=_csv, default=[3, 1], help="runs per owner count, the median is shown"
    )


def write_scenario(directory: Path, n_owners: int) -> Path:
    """A file-based scenario with the example's trainer files and `n_owners` random owners drawn (with
    replacement, each with its own class mix) from the example's clean owners' data."""
    from benchmarks.file_example import build, write_npz
    from mycroft_fl.core.data import Dataset

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


def run_once(scenario: Path, out: Path, env: dict[str, str] | None = None) -> dict:
    """One `mycroft-fl simulate` run (in environment `env`, None: this one's): its wall time,
    report.json's timings, the phases read from its progress lines, and the peak memory of its
    process tree."""
    load_before = load()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(CLI), "simulate", str(scenario), "--budget", str(BUDGET), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
    )
    lines = []  # (seconds since start, line): the progress lines say when the first and last reply came
    with MemorySampler(lambda: process_tree(proc.pid), INTERVAL) as sampler:
        for line in proc.stdout:
            lines.append((time.perf_counter() - start, line.rstrip("\n")))
        proc.wait()
        wall = time.perf_counter() - start
    load_after = load()
    output = "\n".join(text for _, text in lines)
    if proc.returncode != 0:
        raise SystemExit(f"mycroft-fl simulate failed (exit {proc.returncode}):\n{output[-3000:]}")
    time.sleep(2.0)  # Ray's processes exit shortly after the driver; any still there are reported
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
    return {
        "wall_s": wall,
        **timings,
        "startup_s": strategy_start,
        "first_reply_s": first - strategy_start,
        "replies_s": last - first,
        "per_reply_ms": 1000 * (last - first) / max(len(owners) * (1 - k_first / nodes), 1),
        "shutdown_s": ray_gone - strategy_start - timings["total_s"],
        "exit_s": wall - ray_gone,
        "rss_mb": sampler.peak_mb("VmRSS"),
        "pss_mb": sampler.peak_mb("Pss"),
        "procs": sampler.peak_procs,
        "ok": sum(o["status"] == "ok" for o in owners),
        "owners": len(owners),
        "selection_s": sum(o.get("selection_s", 0.0) for o in owners),
        "load_before": load_before,
        "load_after": load_after,
        "leftover": sampler.left_running(proc.pid),
    }


def time_baseline() -> float:
    """Seconds for the trainer's baseline training and query alone (what the strategy does before the
    first message), on the bench scenario's files, with one torch thread as in the simulation."""
    import torch

    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.acquisition import strategy_query
    from mycroft_fl.trainer.strategy_config import load_strategy
    from mycroft_fl.trainer.trainer import Trainer

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-simulate-baseline-") as tmp:
        scenario = load_scenario(write_scenario(Path(tmp), 1))
        data = scenario.trainer_data()
        start = time.perf_counter()
        config = load_strategy("mycroft", budget=BUDGET)
        strategy_query(Trainer(data, scenario.trainer, seed=scenario.seed), config)
        return time.perf_counter() - start


def measure(options) -> Iterator[tuple[str, dict]]:
    owners, runs = ([100], [1]) if options.quick else (options.owners, options.runs)
    if len(runs) != len(owners):
        raise SystemExit("--runs needs one number per --owners entry")
    baseline_s = time_baseline()
    sizes = []
    for n, count in zip(owners, runs):
        with tempfile.TemporaryDirectory(prefix=f"bench-simulate-{n}-") as tmp:
            scenario = write_scenario(Path(tmp), n)
            results = []
            for r in range(count):
                results.append(run_once(scenario, Path(tmp) / f"out-{r}"))
                res = results[-1]
                print(
                    f"{n} owners, run {r + 1}/{count}: wall {res['wall_s']:.1f} s, peak PSS "
                    f"{res['pss_mb']:.0f} MB, {res['ok']}/{res['owners']} owners ok"
                    + (f"; LEFT RUNNING: {res['leftover']}" if res["leftover"] else ""),
                    flush=True,
                )
        sizes.append({"owners": n, "runs": results})
    yield (
        "simulate",
        {"budget": BUDGET, "interval_s": INTERVAL, "baseline_s": baseline_s, "sizes": sizes},
    )


# ------------------------------------------------------------------------------------------ section


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def section(entries: list[dict], reading: Reading) -> str:
    entry = entries[0]
    d = entry["data"]
    sizes = [(s["owners"], s["runs"]) for s in d["sizes"]]

    def spread(runs: list[dict], key: str) -> str:
        values = [r[key] for r in runs]
        return f" ({min(values):.1f}–{max(values):.1f})" if len(values) > 1 else ""

    def loads(runs: list[dict]) -> str:
        return ", ".join(f"{r['load_before']:.1f}→{r['load_after']:.1f}" for r in runs)

    def count(runs: list[dict]) -> str:
        return f"median of {len(runs)}" if len(runs) > 1 else "1 run"

    walls = table(
        (
            "owners",
            "runs",
            "wall (s)",
            "peak RSS sum (MB)",
            "peak PSS sum (MB)",
            "processes",
            "load avg 1 min, before→after each run",
        ),
        "lllllll",
        (
            [
                f"{n:,}",
                count(runs),
                f"{_median(runs, 'wall_s'):.1f}{spread(runs, 'wall_s')}",
                f"{_median(runs, 'rss_mb'):,.0f}",
                f"{_median(runs, 'pss_mb'):,.0f}",
                f"{_median(runs, 'procs'):.0f}",
                loads(runs),
            ]
            for n, runs in sizes
        ),
    )
    phases = table(
        (
            "owners",
            "start-up (s)",
            "strategy start → first reply (s)",
            "first → last reply (s)",
            "per owner (ms)",
            "valuation (s)",
            "per owner (ms)",
            "Ray shutdown (s)",
            "report and exit (s)",
        ),
        "lllllllll",
        (
            [
                f"{n:,}",
                f"{_median(runs, 'startup_s'):.1f}",
                f"{_median(runs, 'first_reply_s'):.1f}",
                f"{_median(runs, 'replies_s'):.1f}",
                format(_median(runs, "per_reply_ms"), ".0f")
                if _median(runs, "per_reply_ms") >= 0.5
                else "–",
                f"{_median(runs, 'valuation_s'):.1f}",
                f"{1000 * _median(runs, 'valuation_s') / n:.0f}",
                f"{_median(runs, 'shutdown_s'):.1f}",
                f"{_median(runs, 'exit_s'):.1f}",
            ]
            for n, runs in sizes
        ),
    )
    verdicts = []
    for n, runs in sizes:
        if n in TARGET_SECONDS:
            wall = _median(runs, "wall_s")
            ok = wall <= TARGET_SECONDS[n]
            verdicts.append(
                f"{n:,} owners in {TARGET_SECONDS[n]:g} s: {'met' if ok else 'MISSED'} ({wall:.0f} s)"
            )
        if n in TARGET_PSS_MB:
            pss = _median(runs, "pss_mb")
            ok = pss <= TARGET_PSS_MB[n]
            verdicts.append(
                f"{n:,} owners in {TARGET_PSS_MB[n]:,.0f} MB PSS: {'met' if ok else 'MISSED'} "
                f"({pss:,.0f} MB)"
            )
    counts = ", ".join(
        f"{n:,} owners: {'median of ' + str(len(r)) + ' runs' if len(r) > 1 else '1 run'}"
        for n, r in sizes
    )
    return paragraphs(
        TITLE,
        "`mycroft-fl simulate` on a file-based scenario: the trainer's files of the shipped example "
        "(digits, thin in 8 and 9) and N owners of 30–60 digits images each (drawn with replacement, "
        "each with its own class mix from a Dirichlet(0.5) draw); strategy `mycroft`, budget "
        f"{d['budget']}. {counts}. At most 100 simulated SuperNodes: beyond 100 owners each node "
        "answers for several, each owner in its own part of the node's reply (Flower's in-memory store "
        "is scanned by every node every 0.1 s, each scan walking every message). Targets: "
        f"**{'; '.join(verdicts) or 'no target size measured'}**.",
        [
            "- Memory: the command's whole process tree (driver, Ray GCS, raylet, workers) sampled "
            f"from /proc every {d['interval_s']} s; RSS summed over processes counts shared pages "
            "(torch, Ray) once per process and overstates, PSS shares them out and is what the run "
            "occupies.",
            "- Where the time goes (medians of each phase): *start-up* = process start to the "
            "strategy's start (imports, checking every file); *strategy start → first reply* = the "
            "trainer's baseline and query, sending the query to every node, and meanwhile (Flower "
            "starts the engine next to the ServerApp) starting Ray and its actors, which import torch "
            "before the first owner can answer; *first → last reply* = the other nodes answering, per "
            "owner = that over the owners they answer for (replies are pulled every 0.2 s, so the first "
            "pull may bring several; – when it brought all); *valuation* = report.json `valuation_s` "
            "(one retraining per owner plus the combined model); *Ray shutdown* = until only the driver "
            "process is left; *report and exit* = writing report.json/md/png, then the interpreter's "
            "exit. report.json `timings.query_s` = the second and third phases.",
            "- The trainer's own baseline training and query, timed alone in the benchmark's process "
            "on the same files (one torch thread, as in the simulation): "
            f"{d['baseline_s']:.1f} s; it runs while Ray starts.",
        ],
        walls,
        phases,
        reading.text,
        provenance(entry),
    )
