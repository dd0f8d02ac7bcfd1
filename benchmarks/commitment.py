"""Commit, then draw: what the extra round trip costs per owner, in bytes and seconds (issue 19).

Bytes: on the scenario `simulate` benchmarks (benchmarks/simulate.py: digits images, owners of 30 to
60 rows), each owner's messages are built as the Flower transport builds them (`flower.protocol`) and
measured as Flower sends them: every object of the content's tree deflated (`RecordDict.deflate`,
each array chunk included; Flower's metadata envelope of each message is not counted). The
commitment adds the `query.commit` request, the owner's commitment
reply, and in the select reply the sibling paths of its picks and of the audit's rows and the audit's
positions; the rows themselves went before the change too. Owners are the same in every size.

Seconds: with `--vs CHECKOUT` (a checkout of the code to compare with, e.g. a worktree of the commit
before the change), `mycroft-fl simulate` of this checkout and of that one in turn (A B A B ...,
`--runs` pairs per size, benchmarks/simulate.run_pairs) on the same generated scenario (the other
checkout reached by PYTHONPATH); report.json's phases give the commit round trip (`commit_s`),
the select round trip (`query_s`) and valuation. `--quick`: 100 owners, bytes only.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.md import Reading, paragraphs, provenances, table

TITLE = "## Commit, then draw: the extra round trip"
SIZES = (100, 1000)
#: The select reply's arrays the commitment added (the rows and labels went before it too).
ADDED = ("proofs", "audit_positions", "audit_proofs")


def _csv(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def add_options(parser) -> None:
    parser.add_argument("--owners", type=_csv, default=list(SIZES), help="default 100,1000")
    parser.add_argument(
        "--vs", type=Path, default=None, help="a checkout to time side by side (default: none)"
    )
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs per size (default 3)")


def wire_bytes(obj) -> int:
    """Bytes of a Flower message or record and every object under it, as Flower deflates them."""
    return len(obj.deflate()) + sum(wire_bytes(c) for c in (obj.children or {}).values())


def message_bytes(scenario_path: Path) -> dict:
    """Per owner of the scenario: the bytes of each message of the commit and select round trips,
    and of each array of the select reply, as an honest owner answers the trainer's query; and the
    CPU milliseconds of its commitment (the tree), of its answer (selection and openings) and of the
    trainer's verification of every opening (CPU time: a shared machine's load does not count)."""
    import torch

    from benchmarks.simulate import BUDGET
    from mycroft_fl.core.commitment import verify_openings
    from mycroft_fl.flower.protocol import (
        commit_content,
        commitment_content,
        query_content,
        reply_content,
    )
    from mycroft_fl.owner.answer import answer_query
    from mycroft_fl.owner.holding import Holding
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer.acquisition import seed_audit_key, strategy_query
    from mycroft_fl.trainer.strategy_config import load_strategy
    from mycroft_fl.trainer.trainer import Trainer

    torch.set_num_threads(1)
    scenario = load_scenario(scenario_path)
    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=scenario.seed)
    config = load_strategy("mycroft", budget=BUDGET)
    query = dataclasses.replace(
        strategy_query(trainer, config), audit_key=seed_audit_key(scenario.seed)
    )
    n_classes = trainer.data.n_classes
    request = wire_bytes(commit_content(n_classes))
    select = wire_bytes(query_content(query))
    rows: dict[str, list[int]] = {}
    cpu: dict[str, list[float]] = {"commit_ms": [], "answer_ms": [], "verify_ms": []}
    for owner_id, data in scenario.owners_data().items():
        t0 = time.process_time()
        holding = Holding(data, n_classes)  # the owner's tree and commitment
        t1 = time.process_time()
        answer = answer_query(query, holding)  # selection, and opening picks and audit
        t2 = time.process_time()
        for at, x, y, proofs in (  # what the trainer verifies
            (answer.positions, answer.x, answer.y, answer.proofs),
            (answer.audit_positions, answer.audit_x, answer.audit_y, answer.audit_proofs),
        ):
            assert verify_openings(holding.commitment, at, x, y, proofs) is None
        t3 = time.process_time()
        for key, seconds in zip(cpu, (t1 - t0, t2 - t1, t3 - t2)):
            cpu[key].append(1000 * seconds)
        reply = reply_content(
            owner_id, query.selector, answer, local_size=len(data), selection_s=0.0
        )
        commit = commitment_content(owner_id, holding.commitment, local_size=len(data))
        sizes = {
            "commit_request": request,
            "commit_reply": wire_bytes(commit),
            "select_query": select,
            "select_reply": wire_bytes(reply),
            **{k: wire_bytes(v) for k, v in reply["subset"].items()},
            "rows": len(data),
            "opened": len(answer.positions) + len(answer.audit_positions),
        }
        for k, v in sizes.items():
            rows.setdefault(k, []).append(int(v))
    out = {k: {"mean": float(np.mean(v)), "min": min(v), "max": max(v)} for k, v in rows.items()}
    return {**out, **{k: {"mean": float(np.mean(v)), "max": max(v)} for k, v in cpu.items()}}


def measure(options) -> Iterator[tuple[str, dict]]:
    from benchmarks.simulate import run_pairs, write_scenario

    sizes = [100] if options.quick else options.owners
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench-commitment-{n}-") as tmp:
            scenario = write_scenario(Path(tmp), n)
            data = {"owners": n, "bytes": message_bytes(scenario)}
            if options.vs is not None and not options.quick:
                pairs = run_pairs(scenario, Path(tmp), options.vs, options.runs)
                data.update(vs=str(options.vs), pairs=pairs)
        yield f"owners-{n}", data


# ------------------------------------------------------------------------------------------ section


def section(entries: list[dict], reading: Reading) -> str:
    by_n = {e["data"]["owners"]: e for e in entries}
    sizes = sorted(by_n)
    first = by_n[sizes[0]]["data"]["bytes"]

    def kb(v: float) -> str:
        return f"{v / 1000:,.1f}"

    def added(b: dict) -> float:  # both commit messages' contents, proofs, audit positions
        return sum(b[k]["mean"] for k in ("commit_request", "commit_reply", *ADDED))

    def sent_before(b: dict) -> float:  # the select reply without what the commitment added
        return b["select_reply"]["mean"] - sum(b[k]["mean"] for k in ADDED)

    rows = []
    for key, what in (
        ("commit_request", "`query.commit` request (trainer → owner): classes to count"),
        ("commit_reply", "commitment reply (owner → trainer): root, rows per class, row count, id"),
        ("proofs", "in the select reply: sibling paths of the picks"),
        ("audit_positions", "in the select reply: the audit's positions"),
        ("audit_proofs", "in the select reply: sibling paths of the audit's rows"),
        ("select_reply", "the whole select reply (picks, audit rows, proofs)"),
        ("select_query", "the select query (trainer → owner; unchanged but the audit key)"),
    ):
        b = first[key]
        rows.append([what, f"{b['mean']:,.0f}", f"{b['min']:,}–{b['max']:,}"])
    extra, before = added(first), sent_before(first)
    totals = [
        [f"{n:,}", f"{added(b):,.0f}", kb(added(b) * n), kb(sent_before(b) * n)]
        for n, b in ((n, by_n[n]["data"]["bytes"]) for n in sizes)
    ]
    cpu = table(
        (
            "owners",
            "owner: commitment (tree), ms",
            "owner: selection and openings, ms",
            "trainer: verifying picks and audit, ms",
            "all owners: commitments + verification, s",
        ),
        "lllll",
        (
            [
                f"{n:,}",
                f"{b['commit_ms']['mean']:.2f} (max {b['commit_ms']['max']:.1f})",
                f"{b['answer_ms']['mean']:.1f} (max {b['answer_ms']['max']:.1f})",
                f"{b['verify_ms']['mean']:.2f} (max {b['verify_ms']['max']:.1f})",
                f"{n * (b['commit_ms']['mean'] + b['verify_ms']['mean']) / 1000:.2f}",
            ]
            for n, b in ((n, by_n[n]["data"]["bytes"]) for n in sizes)
            if "commit_ms" in b
        ),
    )
    timed = [n for n in sizes if by_n[n]["data"].get("pairs")]

    def med(n: int, side: str, key: str) -> float:
        return statistics.median(p[side][key] for p in by_n[n]["data"]["pairs"])

    def ratio(n: int) -> float:  # this / before, pair by pair
        return statistics.median(
            p["this"]["wall_s"] / p["other"]["wall_s"] for p in by_n[n]["data"]["pairs"]
        )

    seconds = (
        table(
            (
                "owners",
                "pairs",
                "wall, this / before (s)",
                "ratio (median of pairs)",
                "commit round trip (s)",
                "select round trip, this / before (s)",
                "both round trips per owner, this / before (ms)",
            ),
            "lllllll",
            (
                [
                    f"{n:,}",
                    str(len(by_n[n]["data"]["pairs"])),
                    f"{med(n, 'this', 'wall_s'):.1f} / {med(n, 'other', 'wall_s'):.1f}",
                    f"{ratio(n):.2f}",
                    f"{med(n, 'this', 'commit_s'):.1f}",
                    f"{med(n, 'this', 'query_s'):.1f} / {med(n, 'other', 'query_s'):.1f}",
                    f"{1000 * (med(n, 'this', 'commit_s') + med(n, 'this', 'query_s')) / n:.0f} / "
                    f"{1000 * med(n, 'other', 'query_s') / n:.0f}",
                ]
                for n in timed
            ),
        )
        if timed
        else None
    )
    return paragraphs(
        TITLE,
        "Before the trainer sends its query, every owner commits to its data (a Merkle root over its "
        "rows and labels in label-sorted order, with its rows per class); the select reply then opens "
        "the picks and the audit's rows with their sibling paths. Bytes per owner, on the scenario of "
        "`simulate`'s benchmark (digits images of 64 floats, owners of 30–60 rows, budget 8, audit "
        f"32), each message's objects deflated as Flower sends them; mean over {sizes[0]:,} owners "
        "(range):",
        table(("message or part", "bytes per owner", "range"), "lll", rows),
        f"Added per owner: {extra:,.0f} bytes (both commit messages, proofs and audit positions; each "
        "message also carries Flower's metadata envelope, not counted), "
        f"against {before:,.0f} bytes of the select reply's picks and audit rows alone. All owners:",
        table(
            (
                "owners",
                "added per owner (bytes, mean)",
                "added, all owners (kB)",
                "picks and audit rows, all owners (kB)",
            ),
            "llll",
            totals,
        ),
        "CPU time per owner, mean (max), one thread, measured in the benchmark's process (CPU time, "
        "so the load of a shared machine does not count): the owner's commitment, its answer (which "
        "also selects, as before the change), and the trainer's verification of every opening:",
        cpu,
        seconds,
        reading.text,
        provenances([by_n[n] for n in sizes]),
    )
