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
among the processes that map them: what the run really occupies). Each run has a private RAY_TMPDIR
(Ray started without an address joins the newest instance it finds in its temp dir, which on a shared
machine may be someone else's) and at most `RUN_TIMEOUT` seconds plus `RUN_TIMEOUT_PER_OWNER` per
owner.

`--vs CHECKOUT`: side by side with a checkout of other code (e.g. a worktree of the commit before a
change), `mycroft-fl simulate` of this checkout and of that one in turn (A B A B ..., `--runs` pairs per
size, `run_pairs`) on the same scenario, the other reached by PYTHONPATH; on a shared machine the
ratio of each pair is the figure to read. `--quick`: 100 owners, one run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.md import Reading, paragraphs, provenances, table
from benchmarks.probe import MemorySampler, load, process_tree

TITLE = "## mycroft-fl simulate: wall time and memory"
BUDGET, INTERVAL = 8, 0.2
#: owners: wall time at most (1,000 owners: issue 17's goal, near Flower's floor of start-up plus
#: about 8 ms a reply; it was 60 s before)
TARGET_SECONDS = {1000: 25.0, 10000: 900.0}
TARGET_PSS_MB = {10000: 4096.0}  # owners: peak PSS at most
CLI = Path(sys.executable).parent / "mycroft-fl"
ROOT = Path(__file__).resolve().parent.parent
#: Seconds one simulate run may take before it counts as hung, plus seconds per owner (on a shared
#: machine 1,000 owners took 45 s alone and 923 s once at a load of 15-20; 10,000 owners 310 s).
RUN_TIMEOUT, RUN_TIMEOUT_PER_OWNER = 600.0, 0.3


def _csv(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def add_options(parser) -> None:
    parser.add_argument("--owners", type=_csv, default=[1000, 10000], help="default 1000,10000")
    parser.add_argument(
        "--runs",
        type=_csv,
        default=[3, 1],
        help="runs (with --vs: pairs of runs) per owner count, the median is shown",
    )
    parser.add_argument(
        "--vs", type=Path, default=None, help="a checkout to time side by side (default: none)"
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


def run_once(scenario: Path, out: Path, checkout: Path = ROOT) -> dict:
    """One `mycroft-fl simulate` run of the code at `checkout` (default: this one): its wall time,
    report.json's timings, the phases read from its progress lines, and the peak memory of its process
    tree. Fails when fewer than half of the owners' replies were taken (a broken run times nothing).

    The code is chosen by PYTHONPATH alone, and the command runs in the scenario's folder: Ray puts
    the driver's working directory on its workers' path, so run from another checkout the owners
    would answer with that checkout's code."""
    ray_tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths must fit
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(checkout)}
    if checkout.resolve() != ROOT.resolve():  # another checkout is read, not written to
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("RAY_ADDRESS", None)
    load_before = load()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(CLI), "simulate", str(scenario), "--budget", str(BUDGET), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
        cwd=scenario.parent,
        start_new_session=True,  # its own process group, which a timeout ends as a whole
    )
    timeout = RUN_TIMEOUT + RUN_TIMEOUT_PER_OWNER * scenario.read_text().count("[[owners]]")
    hung = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
    hung.start()
    lines = []  # (seconds since start, line): the progress lines say when the first and last reply came
    try:
        with MemorySampler(lambda: process_tree(proc.pid), INTERVAL) as sampler:
            for line in proc.stdout:
                lines.append((time.perf_counter() - start, line.rstrip("\n")))
            proc.wait()
            wall = time.perf_counter() - start
    finally:
        hung.cancel()
        if proc.poll() is None:  # this process was interrupted: the run goes with it
            os.killpg(proc.pid, signal.SIGKILL)
    load_after = load()
    output = "\n".join(text for _, text in lines)
    if proc.returncode != 0:
        shutil.rmtree(ray_tmp, ignore_errors=True)
        timed_out = f" after the {timeout:g} s timeout" if wall >= timeout else ""
        raise SystemExit(
            f"mycroft-fl simulate failed (exit {proc.returncode}{timed_out}):\n{output[-3000:]}"
        )
    time.sleep(2.0)  # Ray's processes exit shortly after the driver; any still there are reported
    shutil.rmtree(ray_tmp, ignore_errors=True)
    report = json.loads((out / "report.json").read_text())
    owners = report["owners"]
    taken = sum(o["status"] == "ok" for o in owners)
    if taken < len(owners) / 2:
        reasons = Counter(o.get("reason") for o in owners if o["status"] != "ok")
        raise SystemExit(
            f"mycroft-fl simulate of {checkout}: {taken} of {len(owners)} owners ok, "
            f"{len(owners) - taken} not (mostly: {reasons.most_common(1)[0][0]})"
        )
    # commit_s: the commit round trip, where the code has one (before it: 0)
    timings = {k: report["timings"].get(k, 0.0) for k in ("total_s", "commit_s", "query_s")}
    timings["valuation_s"] = report["timings"]["valuation_s"]
    replies = [  # (seconds, replies in, replies expected): one reply per node, for all its owners
        (t, *map(int, text.split()[2].split("/")))
        for t, text in lines
        if text.startswith(("owners committing:", "querying owners:"))
    ]
    (first, k_first, nodes), (last, _, _) = replies[0], replies[-1]
    # the strategy's start: the last reply is in when all but the valuation is done
    strategy_start = last - (timings["total_s"] - timings["valuation_s"])
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
        "ok": taken,
        "owners": len(owners),
        "selection_s": sum(o.get("selection_s", 0.0) for o in owners),
        "load_before": load_before,
        "load_after": load_after,
        "leftover": sampler.left_running(proc.pid),
    }


def run_pairs(scenario: Path, folder: Path, other: Path, pairs: int) -> list[dict]:
    """`pairs` pairs of `run_once` on `scenario`, this checkout then the checkout `other` (A B A B ...,
    so a shared machine's load weighs on both alike), each run's output in a folder of `folder`.

    Returns
    -------
    list of dict
        Per pair, `{"this": run, "other": run}`, each `run_once`'s figures.
    """
    out = []
    for r in range(pairs):
        a = run_once(scenario, folder / f"this-{r}")
        b = run_once(scenario, folder / f"other-{r}", other.resolve())
        out.append({"this": a, "other": b})
        print(
            f"{a['owners']} owners, pair {r + 1}/{pairs}: {a['wall_s']:.1f} s vs "
            f"{b['wall_s']:.1f} s (ratio {a['wall_s'] / b['wall_s']:.2f})",
            flush=True,
        )
    return out


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
    for n, count in zip(owners, runs):
        data = {"owners": n, "budget": BUDGET, "interval_s": INTERVAL, "baseline_s": baseline_s}
        with tempfile.TemporaryDirectory(prefix=f"bench-simulate-{n}-") as tmp:
            scenario = write_scenario(Path(tmp), n)
            if options.vs is not None:
                pairs = run_pairs(scenario, Path(tmp), options.vs, count)
                data.update(
                    runs=[p["this"] for p in pairs],
                    vs=str(options.vs),
                    other=[p["other"] for p in pairs],
                )
            else:
                data["runs"] = [run_once(scenario, Path(tmp) / f"out-{r}") for r in range(count)]
        for r, res in enumerate(data["runs"]):
            print(
                f"{n} owners, run {r + 1}/{count}: wall {res['wall_s']:.1f} s, peak PSS "
                f"{res['pss_mb']:.0f} MB, {res['ok']}/{res['owners']} owners ok"
                + (f"; LEFT RUNNING: {res['leftover']}" if res["leftover"] else ""),
                flush=True,
            )
        yield f"owners-{n}", data


# ------------------------------------------------------------------------------------------ section


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def section(entries: list[dict], reading: Reading) -> str:
    entries = sorted(entries, key=lambda e: e["data"]["owners"])
    d = entries[0]["data"]
    sizes = [(e["data"]["owners"], e["data"]["runs"]) for e in entries]
    paired = [e["data"] for e in entries if e["data"].get("other")]

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
            "of which the select round (s)",
            "valuation (s)",
            "per owner (ms)",
            "Ray shutdown (s)",
            "report and exit (s)",
        ),
        "llllllllll",
        (
            [
                f"{n:,}",
                f"{_median(runs, 'startup_s'):.1f}",
                f"{_median(runs, 'first_reply_s'):.1f}",
                f"{_median(runs, 'replies_s'):.1f}",
                format(_median(runs, "per_reply_ms"), ".0f")
                if _median(runs, "per_reply_ms") >= 0.5
                else "–",
                f"{_median(runs, 'query_s'):.1f}",
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
    side = None
    if paired:

        def both(p: dict, key: str, fmt: str = ".1f") -> str:
            return f"{_median(p['runs'], key):{fmt}} / {_median(p['other'], key):{fmt}}"

        side = table(
            (
                "owners",
                "pairs",
                "wall, this / before (s)",
                "ratio (median of pairs)",
                "ratio of each pair",
                "first → last reply, this / before (s)",
                "valuation, this / before (s)",
                "peak PSS sum, this / before (MB)",
            ),
            "llllllll",
            (
                [
                    f"{p['owners']:,}",
                    str(len(p["runs"])),
                    both(p, "wall_s"),
                    f"{statistics.median(_ratios(p)):.2f}",
                    ", ".join(f"{r:.2f}" for r in _ratios(p)),
                    both(p, "replies_s"),
                    both(p, "valuation_s"),
                    both(p, "pss_mb", ",.0f"),
                ]
                for p in paired
            ),
        )
    counts = ", ".join(
        f"{n:,} owners: {'median of ' + str(len(r)) + ' runs' if len(r) > 1 else '1 run'}"
        for n, r in sizes
    )
    baselines = ", ".join(f"{e['data']['baseline_s']:.1f}" for e in entries)
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
            "trainer's baseline, the first message to every node (the commit request), and meanwhile "
            "(Flower starts the engine next to the ServerApp) starting Ray and its actors, which "
            "import torch before the first owner can answer; *first → last reply* = the other nodes "
            "answering, through both round trips (commit, then select with the trainer's query), per "
            "owner = that over the owners they answer for (replies are pulled every 0.2 s, so the first "
            "pull may bring several; – when it brought all); *of which the select round* = report.json "
            "`timings.query_s`; *valuation* = report.json `valuation_s` (one retraining per owner plus "
            "the combined model); *Ray shutdown* = until only the driver process is left; *report and "
            "exit* = writing report.json/md/png, then the interpreter's exit. The strategy's start is "
            "placed at the last reply less report.json's `total_s - valuation_s`.",
            "- The trainer's own baseline training and query, timed alone in the benchmark's process "
            "on the same files (one torch thread, as in the simulation): "
            f"{baselines} s (timed by each size's run); it runs while Ray starts.",
        ],
        walls,
        phases,
        (
            "Side by side with the code at another checkout (`--vs`, "
            + ", ".join(sorted({f"`{p['vs']}`" for p in paired}))
            + "): this checkout's run and that one's in turn on the same scenario (A B A B ...), "
            "medians over the pairs; the ratio of each pair (this / before) is what a shared "
            "machine's load weighs on least."
            if paired
            else None
        ),
        side,
        reading.text,
        provenances(entries),
    )


def _ratios(data: dict) -> list[float]:
    """This checkout's wall time over the other's, pair by pair."""
    return [a["wall_s"] / b["wall_s"] for a, b in zip(data["runs"], data["other"])]
