"""Wall time and memory of a real Flower deployment on loopback with many SuperNodes.

Each configuration N:K (`--configs`) is one run of the loopback harness of tests/test_deployment_scale.py
(`loopback_owners_run` in tests/flower_procs.py, loaded from there by its path): one `flower-superlink
--database state.db`, N `flower-supernode`s (one per owner file cut from scikit-learn's digits:
even-numbered owners hold 8s and 9s, the trainer's hard classes), then `flwr run` of this repository's
apps with `max-in-flight=K` (0: every owner asked at once) and budget 4. The probe sums, every 2 s, the
RSS and PSS of every process the run started (the SuperLink and its ServerApp, the SuperNodes, their
SuperExecs and ClientApps), from /proc. `--quick`: 4 SuperNodes, max-in-flight 2.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.md import Reading, ordered, paragraphs, provenances, table
from benchmarks.probe import MemorySampler, load, process_tree

TITLE = "## Deployment on loopback: many SuperNodes"
ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 2.0
DEFAULT = "20:4,20:8,50:4,20:0"  # SuperNodes:max-in-flight


def add_options(parser) -> None:
    parser.add_argument(
        "--configs",
        default=DEFAULT,
        help="SuperNodes:max-in-flight pairs, comma-separated (0: all at once)",
    )


def harness():
    """tests/flower_procs.py, the loopback harness the deployment tests use (it imports
    tests/digit_files.py by that name)."""
    for name in ("digit_files", "flower_procs"):
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    return sys.modules["flower_procs"]


def run_config(n: int, k: int) -> dict:
    procs_module = harness()
    samplers: list[MemorySampler] = []

    def start_sampling(procs) -> None:
        def pids():
            return process_tree(*(p.pid for p in list(procs.procs.values())))

        samplers.append(MemorySampler(pids, INTERVAL, count={"clientapps": "flwr-clientapp"}))
        samplers[0].start()

    load_before = load()
    with tempfile.TemporaryDirectory(prefix="bench-deployment-") as tmp:
        run = procs_module.loopback_owners_run(
            Path(tmp),
            n,
            max_in_flight=k,
            run_timeout=1800,
            reply_timeout=120 if k == 0 else 1200,
            on_started=start_sampling,
        )
    sampler = samplers[0]
    sampler.stop()
    owners = (run.report or {}).get("owners", [])
    timings = (run.report or {}).get("timings", {})
    row = {
        "n": n,
        "k": k,
        "rc": run.rc,
        "wall_s": run.seconds,
        "query_s": timings.get("query_s"),
        "ok": sum(1 for o in owners if o["status"] == "ok" and o["id"] in run.owners),
        "locked": run.locked,
        "peak_pss_mb": sampler.peak_mb("Pss"),
        "peak_rss_mb": sampler.peak_mb("VmRSS"),
        "peak_procs": sampler.peak_procs,
        "peak_clientapps": sampler.peak_counts["clientapps"],
        "load": [load_before, load()],
    }
    print(row, flush=True)
    if run.rc != 0 and k:
        print(run.logs[-5000:], file=sys.stderr)
    return row


def measure(options) -> Iterator[tuple[str, dict]]:
    configs = "4:2" if options.quick else options.configs
    for pair in configs.split(","):
        n, k = (int(v) for v in pair.split(":"))
        yield f"{n}:{k}", run_config(n, k)


def section(entries: list[dict], reading: Reading) -> str:
    entries = ordered(entries, DEFAULT.split(","))
    rows = [e["data"] for e in entries]
    body = [
        [
            r["n"],
            r["k"] or "all",
            f"{r['ok']}/{r['n']}",
            r["locked"],
            f"{r['wall_s']:.0f}",
            "-" if r["query_s"] is None else f"{r['query_s']:.0f}",
            r["peak_clientapps"],
            r["peak_procs"],
            f"{r['peak_pss_mb']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['load'][0]:.1f} -> {r['load'][1]:.1f}",
        ]
        for r in rows
    ]
    notes = [
        f"- {r['n']} SuperNodes, max-in-flight {r['k'] or 'all'}: no report.json; {r['ok']} of "
        f"{r['n']} owners' replies reached a report, and the SuperLink logged `database is locked` "
        f"{r['locked']} times."
        for r in rows
        if r["query_s"] is None
    ]
    by_k: dict[int, list[dict]] = {}
    for r in rows:
        if r["query_s"] is not None:
            by_k.setdefault(r["k"], []).append(r)
    for k, same in by_k.items():
        lo, hi = min(same, key=lambda r: r["n"]), max(same, key=lambda r: r["n"])
        if hi["n"] > lo["n"]:
            per_node = (hi["peak_pss_mb"] - lo["peak_pss_mb"]) / (hi["n"] - lo["n"])
            notes.append(
                f"- max-in-flight {k}, {lo['n']} -> {hi['n']} SuperNodes: peak PSS grows by "
                f"{per_node:.0f} MB per SuperNode (with its SuperExec); the query round by "
                f"{(hi['query_s'] - lo['query_s']) / (hi['n'] - lo['n']):.1f} s per owner."
            )
    return paragraphs(
        TITLE,
        "`python -m benchmarks run deployment --configs N:K,...`: one `flower-superlink --database "
        "state.db`, N `flower-supernode`s with an owner file each and `flwr run` of this repository's "
        "apps (budget 4, `max-in-flight` K; 0: every owner asked at once), all on 127.0.0.1, as "
        "tests/test_deployment_scale.py does for 20. Wall: from the SuperLink's start to `flwr run`'s "
        "end (the SuperNodes' start-up, the trainer, the query round and the valuation); query: the "
        "ServerApp's wait for the nodes plus the query round. Memory: the peak sum over every process "
        f"the run started (the SuperLink and its ServerApp, the SuperNodes, their SuperExecs and "
        f"ClientApps), sampled every {INTERVAL:g} s; RSS counts shared pages once per process, PSS "
        "divides them. The machine was shared: the 1-minute load average before and after each run is "
        "given.",
        table(
            (
                "SuperNodes",
                "max-in-flight",
                "owners answered",
                "`database is locked`",
                "wall (s)",
                "query (s)",
                "peak ClientApps",
                "peak processes",
                "peak PSS (MB)",
                "peak RSS (MB)",
                "load",
            ),
            "rrrrrrrrrrl",
            body,
        ),
        notes,
        reading.text,
        *provenances(entries),
    )
