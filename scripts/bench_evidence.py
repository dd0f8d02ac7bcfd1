"""Evidence on real data: `mycroft-fl compare` on the shipped scenarios, set beside the issue's targets and
the Mycroft paper's figures, written into BENCHMARKS.md ("## Evidence on real data").

Run (the full evidence: hours on two CPU cores, most of it exact Shapley, 2^n retrains per seed on every
owner's full data; without loo and shapley, `--no-valuation`, about 11 minutes with warm embedding caches):

    .venv/bin/python scripts/bench_evidence.py [--seeds 5] [--scenarios fashion,spurious,credit,digits] [--quick]

For each scenario this calls `mycroft_fl.compare.compare` in-process, the very code behind
`mycroft-fl compare`, with the strategies mycroft, gradmatch, retrieval and random and the data-valuation
baselines `loo` and `shapley` (left out with `--no-valuation`),
at budgets of at most 5% of an owner's data, and `full-information` as the reference. Each scenario's
compare.json, compare.md and plots go to runs/evidence/NAME/ as soon as it finishes, its accuracy-vs-budget
plot is copied to docs/evidence/NAME_accuracy_vs_budget.png, and the BENCHMARKS.md section is rebuilt from
every runs/evidence/*/compare.json present, so a partial run (or scenarios run in separate processes) still
leaves a complete, honest section for what was measured.

`--quick` is the reduced, CI-like configuration: 2 seeds, one budget, digits and credit only; it writes to
runs/evidence-quick/ and prints the section instead of touching BENCHMARKS.md or docs/.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import sys
import time
from pathlib import Path

from benchmarks_md import (  # scripts/ is on sys.path when run as a script
    BENCHMARKS,
    write_section,
)

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Evidence on real data"
OUT = ROOT / "runs" / "evidence"
QUICK_OUT = ROOT / "runs" / "evidence-quick"
DOCS = ROOT / "docs" / "evidence"
COMMAND = ".venv/bin/python scripts/bench_evidence.py"

BASE_STRATEGIES = ("mycroft", "gradmatch", "retrieval", "random")
VALUATION_STRATEGIES = ("loo", "shapley")
# Budgets of at most 5% of one owner's data (owner size in the scenario file).
BUDGETS = {"fashion": (8, 16, 40), "spurious": (8, 16, 32), "credit": (4, 8, 12), "digits": (4, 6)}
OWNER_SIZE = {"fashion": 800, "spurious": 640, "credit": 240, "digits": 120}
ORDER = ("fashion", "spurious", "credit", "digits")
REAL = ("fashion", "spurious", "credit")  # the targets apply to these

GAIN_TARGET = 0.90  # Mycroft reaches >= 90% of full information's gain in held-out hard accuracy
SPEARMAN_TARGET = 0.90  # ranks owners with Spearman >= 0.9 against full information's ranking
RANDOM_MARGIN = {"spurious": 0.10}  # beats random by >= 10 points on spurious; by > 0 elsewhere

PAPER = {
    "spurious": "Paper, Dogs & Wolves (its spurious-correlation task): baseline ≈ 39, full information ≈ 86, "
    "Mycroft 81.3 vs random 20 on D_hard, i.e. Mycroft ≈ 90% of full information's gain and "
    "+61 points over random.",
    "fashion": "Paper, closest setting (a thin-class image task, Food101→UPMC): Mycroft 55/68.8/74.4/84.1 vs "
    "random 40/56/59.3/72.5 at budgets 16/32/64/128, i.e. +12 to +15 points over random.",
    "credit": "Paper, tabular variant: histogram-bin distance with a decision tree; no anchor figure in the "
    "material available to us.",
    "digits": "No paper counterpart (our fast default scenario).",
}
# A reading of each scenario's run, written by hand from its per-owner table; re-read it whenever the figures change.
READING = {
    "fashion": "Reading (run of 2026-12-01): Mycroft's share of full information's gain grows with the budget, 44% → "
    "63% → 78% at 8 / 16 / 40 images, and its lead over random with it (−1 → +6 → +9 points); at 8 "
    "images per owner it does no better than random. Its ranking agrees with full information's to "
    "0.83 at 40 images, about as well as full information agrees with itself across seeds (0.76) and as "
    "well as exact Data Shapley does on the owners' entire data (0.81; on the same two seeds Mycroft "
    "0.86, Shapley 0.82, leave-one-out 0.76), while Mycroft sees 312 images and retrains 10 times where "
    "Shapley sees 8,000 and retrains 1,024 times (30 minutes a seed). The owners that hold the garments "
    "in numbers rank first under both; `noisy` and `rotated` are flagged harmful under both, `blurred` "
    "and `erased` in some seeds (their images, selected or not, lower the other classes). An earlier "
    "harm rule (loss on the other classes alone) flagged the most useful owners under full information "
    "and made it a poor reference (Mycroft's Spearman against it was 0.16–0.48); see the README's "
    "report.json section.",
    "spurious": "Reading (run of 2026-12-01): the gain is budget-limited, not selection-limited — 45% → 62% → 82% of "
    "full information's gain from 8 to 32 samples with a small spread (±2 at 32), and Mycroft leads random "
    "by 12–14 points at every budget; beyond the 5% limit, at 64 samples (a side run, `mycroft-fl compare "
    "spurious --strategies mycroft,random --budgets 64 --seeds 5`), Mycroft reaches 89% ± 5% of the gain "
    "against random's 76% ± 6%, though random's ranking then agrees better (0.89 against 0.80). The "
    "ranking misses 0.9 for two reasons the table shows: at 32 samples "
    "`counter-few` (10% counter-examples, 64 of them) fills its whole budget with counter-examples and ranks "
    "above `counter-some`, so a ≤ 5% budget cannot separate owners that all hold more useful samples than the "
    "budget; and `noisy` (80% flipped) is flagged harmful under full information in every seed but never "
    "under Mycroft, whose 32 picks from it raise test accuracy (its label agreement, below clean labels', "
    "harms nothing measurable). Exact Shapley agrees with full information almost perfectly (0.99) but "
    "needs every owner's 640 samples and 256 retrains (343 s a seed against Mycroft's 9 retrains, 2 s); "
    "leave-one-out, at 18 retrains, ranks no better than Mycroft (0.79): the three best owners substitute "
    "for each other, so leaving one out costs little.",
    "credit": "Reading (run of 2026-12-01): every budgeted strategy stays at ≤ 51% of full information's gain, with "
    "Mycroft and gradmatch 8–12 points above random. The owners full information values most (`singles`, "
    "`renters`, +29 to +30 points) are mixed groups whose value lies in their breadth, which 4–12 rows do "
    "not carry; Mycroft's picks favour `freelance`, `homeowners` and `flipped`. The flipped-label owner's "
    "12 rows carry labels that match the misclassified hard samples, so they help on them without lowering "
    "test accuracy (every class is hard here, so there are no other classes to protect) and enter the "
    "combined model in 5/5 seeds; in a two-class task the label vote (clean labels of these classes agree "
    "0.64 of the time, flipped ones 0.36) is too weak a signal on 12 rows. Full information's own ranking "
    "is stable (seed-to-seed Spearman 0.95), so the low agreement is Mycroft's, not the reference's. "
    "Shapley (0.98) and leave-one-out (0.89) rank well on every owner's 240 rows.",
    "digits": "Reading (run of 2026-12-01): with 4–6 samples an owner, Mycroft reaches 76–80% of full information's "
    "gain and leads random by 5–13 points. The ranking suffers from `noisy` (80% flipped): flagged harmful "
    "under full information in every seed, but its 6 selected samples are flagged only in 2 of 5 seeds "
    "(the label check and the damage test have little to go on in 6 samples) and enter the combined model "
    "in 3. At budget 10 and more the flag holds (tests/test_digits_ranking.py: 39 of 40 seeds).",
}

PAPER_RANKING = (
    "Paper, ranking: six owners of decreasing usefulness, Mycroft 75/62.5/62.5/50/25/25 (a clean "
    "monotone ranking) vs random 18.8/43.8/43.8/10/18.8/18.8 (not monotone). The paper reports no "
    "rank correlation; we measure Spearman, Kendall tau-b and top-1 against full information's "
    "ranking of the same seed."
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_scenario(
    name: str,
    seeds: int,
    budgets: tuple[int, ...],
    out: Path,
    *,
    docs: bool,
    valuation: bool = True,
    valuation_seeds: int | None = None,
) -> dict:
    """Run one comparison, write its files, and return its compare.json as a dict. The data-valuation
    baselines run on the first `valuation_seeds` seeds only (all of them by default): on the same trainers,
    merged into the same comparison."""
    import torch

    from mycroft_fl.cli.compare import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)  # as `mycroft-fl compare` does: small models, one thread each
    strategies = [*BASE_STRATEGIES, *(VALUATION_STRATEGIES if valuation else ())]
    skipped = {} if valuation else {v: "left out (--no-valuation)" for v in VALUATION_STRATEGIES}
    valuation_seeds = min(seeds, valuation_seeds or seeds)
    scenario = load_scenario(name)
    log(
        f"{name}: strategies {','.join(strategies)}, budgets {','.join(map(str, budgets))}, {seeds} seeds"
        + (f"; skipped {', '.join(skipped)}" if skipped else "")
    )
    last = [time.perf_counter()]

    def progress(label: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if (
            label.startswith("compare:") or now - last[0] >= 30
        ):  # a step, or a long step's heartbeat
            log(f"{name}: [{done}/{total}] {label}  (+{now - last[0]:.1f} s)")
            last[0] = now

    start = time.perf_counter()
    if valuation and valuation_seeds < seeds:
        result = compare(scenario, BASE_STRATEGIES, list(budgets), seeds, progress=progress).merge(
            compare(
                scenario, VALUATION_STRATEGIES, list(budgets), valuation_seeds, progress=progress
            )
        )
        skipped = {
            v: f"run on the first {valuation_seeds} of the {seeds} seeds only (--valuation-seeds)"
            for v in VALUATION_STRATEGIES
        }
    else:
        result = compare(scenario, strategies, list(budgets), seeds, progress=progress)
    wall = time.perf_counter() - start
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    command = (
        f"{COMMAND} --scenarios {name} --seeds {seeds}"
        + (f" --valuation-seeds {valuation_seeds}" if valuation and valuation_seeds < seeds else "")
        + ("" if valuation else " --no-valuation")
    )
    path = result.write(target, command)
    doc = json.loads(path.read_text())
    doc["evidence"] = {
        "wall_s": round(wall, 1),
        "skipped_strategies": skipped,
        "command": command,
        "owner_size": OWNER_SIZE.get(name),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    if docs:
        copy_plots(target, name)
    log(f"{name}: done in {wall:.0f} s -> {target}")
    return doc


# ---------------------------------------------------------------------------------------------- the section


def _fmt(s: dict | None, fmt: str, scale: float = 1.0) -> str:
    if not s or s.get("mean") is None:
        return "-"
    text = format(s["mean"] * scale, fmt)
    return text if s.get("std") is None else f"{text} ± {format(s['std'] * scale, fmt)}"


def _pct(s: dict) -> str:
    if s.get("mean") is None:
        return "-"
    return f"{s['mean']:.0%}" + ("" if s.get("std") is None else f" ± {s['std']:.0%}")


def _verdict(ok: bool) -> str:
    return "**MET**" if ok else "**MISSED**"


def _aggs(doc: dict) -> dict[tuple[str, int | None], dict]:
    return {(a["strategy"], a["budget"]): a for a in doc["aggregates"]}


def targets(doc: dict) -> list[str]:
    """One row per budget: each of the issue's targets for mycroft, MET/MISSED and by how much."""
    name, aggs = doc["scenario"], _aggs(doc)
    margin = RANDOM_MARGIN.get(name, 0.0)
    rows = [
        "| budget (% of an owner) | Mycroft share of full-info gain (≥ 90%) | Mycroft − random, hard acc "
        f"({'≥ +' + format(margin * 100, '.0f') + ' pts' if margin else '> 0'}) | Mycroft Spearman (≥ 0.90) |",
        "|---|---|---|---|",
    ]
    size = doc["evidence"].get("owner_size") if "evidence" in doc else None
    for b in doc["settings"]["budgets"]:
        m, r = aggs.get(("mycroft", b)), aggs.get(("random", b))
        if m is None:
            continue
        cells = []
        g = m["gain_fraction"]["mean"]
        cells.append(
            "-"
            if g is None
            else f"{g:.0%} ({(g - GAIN_TARGET) * 100:+.0f} pts vs target) {_verdict(g >= GAIN_TARGET)}"
        )
        if r is not None:
            d = m["combined_hard_accuracy"]["mean"] - r["combined_hard_accuracy"]["mean"]
            ok = d >= margin if margin else d > 0
            cells.append(
                f"{d * 100:+.1f} pts"
                + (f" ({(d - margin) * 100:+.1f} vs target)" if margin else "")
                + f" {_verdict(ok)}"
            )
        else:
            cells.append("-")
        rho = m["spearman"]["mean"]
        cells.append(
            "-"
            if rho is None
            else f"{rho:.2f} ({rho - SPEARMAN_TARGET:+.2f} vs target) "
            f"{_verdict(rho >= SPEARMAN_TARGET)}"
        )
        pct = f" ({b / size:.1%})" if size else ""
        rows.append(f"| {b}{pct} | " + " | ".join(cells) + " |")
    return rows


def table(doc: dict) -> list[str]:
    rows = [
        "| strategy | budget | held-out hard acc | share of full-info gain | Spearman | Kendall tau-b | top-1 "
        "| samples shared (all owners) | test acc | retrains | valuation s | wall s / run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    c = doc["control"]
    rows.append(
        f"| control (no owner data) | 0 | {_fmt(c['hard_accuracy'], '.1f', 100)} | | | | | 0 | "
        f"{_fmt(c['test_accuracy'], '.1f', 100)} | | | |"
    )
    for a in doc["aggregates"]:
        rows.append(
            " | ".join(
                [
                    f"| {'**' + a['strategy'] + '**' if a['strategy'] == 'mycroft' else a['strategy']}",
                    "all" if a["budget"] is None else str(a["budget"]),
                    _fmt(a["combined_hard_accuracy"], ".1f", 100),
                    _pct(a["gain_fraction"]),
                    _fmt(a["spearman"], ".2f"),
                    _fmt(a["kendall_tau_b"], ".2f"),
                    _fmt(a["top1"], ".2f"),
                    _fmt(a["exposed_total"], ".0f"),
                    _fmt(a["combined_test_accuracy"], ".1f", 100),
                    _fmt(a["retrains"], ".0f"),
                    _fmt(a["valuation_s"], ".1f"),
                    _fmt(a["wall_s"], ".1f"),
                ]
            )
            + " |"
        )
    return rows


def _runs(doc: dict, strategy: str, budget: int | None) -> list[dict]:
    return [r for r in doc["runs"] if r["strategy"] == strategy and r["budget"] == budget]


def _self_agreement(refs: list[dict]) -> float | None:
    """Mean Spearman between the full-information rankings of every pair of seeds: how stable the
    reference itself is (a ceiling of sorts for any strategy's agreement with it)."""
    from mycroft_fl.trainer.ranking import rank_quality

    def scores(run: dict) -> dict:
        return {
            o: None if v["rank"] is None else -float(v["rank"]) for o, v in run["owners"].items()
        }

    rhos = [
        rank_quality(scores(a), scores(b))["spearman"]
        for i, a in enumerate(refs)
        for b in refs[i + 1 :]
    ]
    rhos = [r for r in rhos if r == r]
    return sum(rhos) / len(rhos) if rhos else None


def diagnostics(doc: dict) -> list[str]:
    """Why the ranking agrees or not: per owner, full information's utility and rank against Mycroft's
    and random's at the largest budget, how often each flagged the owner harmful, and how often the
    owner entered the combined model."""
    budget = max(doc["settings"]["budgets"])
    refs, mine, rnd = (
        _runs(doc, s, b)
        for s, b in (("full-information", None), ("mycroft", budget), ("random", budget))
    )
    if not refs or not mine:
        return []
    n = len(refs)

    def col(runs: list[dict], owner: str) -> str:
        if not runs:
            return "-"
        us = [
            r["owners"][owner]["utility"] for r in runs if r["owners"][owner]["utility"] is not None
        ]
        ranks = [r["owners"][owner]["rank"] for r in runs if r["owners"][owner]["rank"] is not None]
        harmful = sum(bool(r["owners"][owner]["harmful"]) for r in runs)
        combined = sum(owner in r["combined_owners"] for r in runs)
        u = f"{100 * sum(us) / len(us):+.1f}" if us else "-"
        rk = f"{sum(ranks) / len(ranks):.1f}" if ranks else "-"
        return f"{u} | {rk} | {harmful}/{len(runs)} | {combined}/{len(runs)}"

    owners = sorted(
        refs[0]["owners"], key=lambda o: sum((r["owners"][o]["rank"] or 99) for r in refs)
    )
    sa = _self_agreement(refs)
    lines = [
        f"Why (per owner, mean over {n} seeds; utility = gain in held-out hard accuracy, points; rank 1 = "
        f"best; harmful = times flagged; in combined = times among the owners of the combined model). "
        f"Mycroft and random at budget {budget}. Full information's own seed-to-seed Spearman: "
        + ("-" if sa is None else f"{sa:.2f}")
        + ".",
        "",
        "| owner | full-info utility | rank | harmful | in combined | Mycroft utility | rank | harmful | "
        "in combined | random utility | rank | harmful | in combined |",
        "|---|" + "---:|" * 12,
    ]
    lines += [f"| {o} | {col(refs, o)} | {col(mine, o)} | {col(rnd, o)} |" for o in owners]
    # Owners full information flags harmful in most seeds but Mycroft puts into the combined model.
    notes = []
    for o in owners:
        ref_harm = sum(bool(r["owners"][o]["harmful"]) for r in refs)
        in_mine = sum(o in r["combined_owners"] for r in mine)
        if ref_harm > n / 2 and in_mine:
            notes.append(
                f"`{o}` is flagged harmful by full information in {ref_harm}/{n} seeds, yet Mycroft's "
                f"{budget}-sample subset of it enters the combined model in {in_mine}/{len(mine)}"
            )
    full = _aggs(doc).get(("full-information", None))
    above = [
        a
        for a in doc["aggregates"]
        if a["strategy"] != "full-information"
        and full
        and a["combined_hard_accuracy"]["mean"] > full["combined_hard_accuracy"]["mean"]
    ]
    if above:
        from collections import Counter

        used = Counter(o for r in refs for o in r["combined_owners"])
        flagged = [o for o in owners if sum(bool(r["owners"][o]["harmful"]) for r in refs) > n / 2]
        notes.append(
            f"full information is not an upper bound here: {len(above)} strategy × budget cells beat its "
            f"combined model, which is built from "
            + ", ".join(f"`{o}` ({k}/{n})" for o, k in used.most_common(4))
            + (
                " because it flags "
                + ", ".join(f"`{o}`" for o in flagged)
                + " harmful on their full data"
                if flagged
                else ""
            )
        )
    if notes:
        lines += ["", "Found (computed from the runs): " + "; ".join(notes) + "."]
    reading = READING.get(doc["scenario"])
    if reading:
        lines += ["", reading]
    return lines + [""]


#: The plots of a comparison kept in docs/evidence as NAME_<file>.
PLOTS = ("accuracy_vs_budget.png", "ranking_mycroft.png")


def copy_plots(target: Path, name: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for plot in PLOTS:
        shutil.copyfile(target / plot, DOCS / f"{name}_{plot}")


def scenario_section(doc: dict, docs_rel: str | None) -> list[str]:
    name, s, ev = doc["scenario"], doc["settings"], doc.get("evidence", {})
    n_seeds = len(s["seeds"])
    fit = sum(t.get("fit_s", 0) for t in doc["trainers"])
    lines = [
        f"### {name}",
        "",
        f"{s['owners']} owners of {ev.get('owner_size', '?')} samples; budgets "
        f"{', '.join(map(str, s['budgets']))} (≤ 5% of an owner's data); seeds "
        f"{', '.join(map(str, s['seeds']))}. Wall time {ev.get('wall_s', doc['timings']['total_s']):.0f} s "
        f"in all ({fit:.0f} s of it fitting the {n_seeds} trainers; finished {ev.get('finished', '?')}).",
        "",
    ]
    if n_seeds < 5:
        lines += [
            f"**Only {n_seeds} seed{'s' if n_seeds != 1 else ''}, not the issue's 5**; the spreads "
            "below are correspondingly rough.",
            "",
        ]
    if ev.get("skipped_strategies"):
        lines += [
            "Data-valuation baselines: "
            + "; ".join(f"`{k}` {v}" for k, v in ev["skipped_strategies"].items())
            + ".",
            "",
        ]
    lines += table(doc) + [""]
    if name in REAL:
        lines += (
            [f"Targets (issue 4, mean over {n_seeds} seeds, Mycroft at each budget):", ""]
            + targets(doc)
            + [""]
        )
    else:
        lines += (
            ["Targets (not required on digits; shown for comparison):", ""] + targets(doc) + [""]
        )
    lines += [PAPER.get(name, ""), ""]
    lines += diagnostics(doc)
    if docs_rel:
        lines += [
            f"![{name}: combined hard accuracy vs budget]({docs_rel}/{name}_accuracy_vs_budget.png)",
            "",
            f"![{name}: each owner's utility under Mycroft against full information]"
            f"({docs_rel}/{name}_ranking_mycroft.png)",
            "",
        ]
    return lines


def summary(docs: list[dict]) -> list[str]:
    rows = [
        "| scenario | seeds | budgets | Mycroft gain share (≥ 90%) | Mycroft − random (pts) | "
        "Mycroft Spearman (≥ 0.90) | loo / shapley Spearman | retrains: Mycroft / loo / shapley | "
        "samples sent: Mycroft / loo and shapley | full-info hard acc | control hard acc | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for doc in docs:
        aggs, b = _aggs(doc), doc["settings"]["budgets"]
        my = [aggs[("mycroft", x)] for x in b if ("mycroft", x) in aggs]
        rnd = [aggs.get(("random", x)) for x in b]
        gains = "/".join(
            "-" if m["gain_fraction"]["mean"] is None else f"{m['gain_fraction']['mean']:.0%}"
            for m in my
        )
        diffs = "/".join(
            "-"
            if r is None
            else f"{(m['combined_hard_accuracy']['mean'] - r['combined_hard_accuracy']['mean']) * 100:+.1f}"
            for m, r in zip(my, rnd)
        )
        rhos = "/".join(
            "-" if m["spearman"]["mean"] is None else f"{m['spearman']['mean']:.2f}" for m in my
        )
        full = aggs.get(("full-information", None))
        valued = [aggs.get((v, None)) for v in VALUATION_STRATEGIES]
        field = " / ".join(
            "-" if a is None or a["spearman"]["mean"] is None else f"{a['spearman']['mean']:.2f}"
            for a in valued
        )
        cost = " / ".join(
            "-" if a is None else f"{a['retrains']['mean']:.0f}"
            for a in [my[-1] if my else None, *valued]
        )
        sent = " / ".join(
            "-" if a is None else f"{a['exposed_total']['mean']:,.0f}"
            for a in [my[-1] if my else None, valued[-1]]
        )
        rows.append(
            f"| {doc['scenario']} | {len(doc['settings']['seeds'])} | {'/'.join(map(str, b))} | {gains} | "
            f"{diffs} | {rhos} | {field} | {cost} | {sent} | "
            f"{_fmt(full['combined_hard_accuracy'], '.1f', 100) if full else '-'} | "
            f"{_fmt(doc['control']['hard_accuracy'], '.1f', 100)} | "
            f"{doc.get('evidence', {}).get('wall_s', doc['timings']['total_s']):.0f} |"
        )
    return rows


def section(out: Path, docs_rel: str | None) -> str:
    docs = []
    for name in ORDER:
        path = out / name / "compare.json"
        if path.is_file():
            docs.append(json.loads(path.read_text()))
    missing = [n for n in ORDER if n not in {d["scenario"] for d in docs}]
    lines = [
        SECTION,
        "",
        f"Generated by `{COMMAND}` (options `--seeds N`, `--scenarios a,b`, `--quick`), which runs "
        "`mycroft_fl.compare.compare` — the code behind `mycroft-fl compare` — on each shipped real-data "
        "scenario and rebuilds this section from runs/evidence/*/compare.json. Figures are percentages of "
        "held-out hard samples (hard samples the owners never saw), mean ± sd over seeds. *Share of "
        "full-info gain* = (combined hard acc − control) / (full-information combined hard acc − control), "
        "per seed, then averaged. Rank agreement is against full information's ranking of the same seed. "
        "*Samples shared* counts every sample that left any owner. *wall s / run* is one strategy run on a "
        "fitted trainer (2 CPU cores, one torch thread; fashion and spurious ran side by side, so their "
        "per-run times include contention, and a scenario's first Mycroft run includes embedding with "
        "EfficientNet-Lite0 where the cache was cold). *retrains* and *valuation s* are what valuing the "
        "owners cost the trainer (report.json `valuation`): `loo` and `shapley` retrain once per coalition of "
        "owners their values need, on every owner's full data.",
        "",
        "The issue's targets, on fashion, spurious and credit at a budget of at most 5% of an owner's data: "
        "Mycroft reaches ≥ 90% of full information's gain; beats random at the same budget (by ≥ 10 points "
        "on spurious); ranks owners with Spearman ≥ 0.9. Every figure is as measured; no scenario was tuned "
        "to pass.",
        "",
        PAPER_RANKING,
        "",
    ]
    if missing:
        lines += [f"Not measured in this run: {', '.join(missing)}.", ""]
    if docs:
        lines += (
            [
                "Summary (Mycroft at each budget, separated by /; retrains at its largest budget):",
                "",
            ]
            + summary(docs)
            + [""]
        )
    for doc in docs:
        lines += scenario_section(doc, docs_rel)
    return "\n".join(lines)


def write_benchmarks(out: Path) -> None:
    """Rebuild the section under a lock, so scenarios run in parallel processes do not race."""
    lock = BENCHMARKS.with_suffix(".md.lock")
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        write_section(section(out, "docs/evidence"))
    lock.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds per scenario (default 5)")
    p.add_argument(
        "--scenarios", default=",".join(ORDER), help="comma-separated, of " + ", ".join(ORDER)
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="2 seeds, one budget, digits and credit only; writes "
        "runs/evidence-quick and prints the section",
    )
    p.add_argument("--no-valuation", action="store_true", help="leave out loo and shapley")
    p.add_argument(
        "--valuation-seeds",
        type=int,
        help="run loo and shapley on this many of the seeds only "
        "(exact Shapley over 10 owners is 1,023 retrains a seed)",
    )
    p.add_argument(
        "--section-only",
        action="store_true",
        help="rebuild the BENCHMARKS.md section from the "
        "existing runs/evidence/*/compare.json; run nothing",
    )
    args = p.parse_args(argv)
    if args.section_only:
        for name in ORDER:
            if (OUT / name / "compare.json").is_file():
                copy_plots(OUT / name, name)
        write_benchmarks(OUT)
        return 0
    names = (
        ["digits", "credit"]
        if args.quick
        else [n.strip() for n in args.scenarios.split(",") if n.strip()]
    )
    unknown = [n for n in names if n not in BUDGETS]
    if unknown:
        p.error(f"unknown scenario {unknown[0]!r}: use {', '.join(ORDER)}")
    seeds = 2 if args.quick else args.seeds
    if seeds < 1:
        p.error("--seeds must be >= 1")
    out = QUICK_OUT if args.quick else OUT
    for name in names:
        budgets = BUDGETS[name][:1] if args.quick else BUDGETS[name]
        run_scenario(
            name,
            seeds,
            budgets,
            out,
            docs=not args.quick,
            valuation=not args.no_valuation,
            valuation_seeds=args.valuation_seeds,
        )
        if args.quick:
            continue
        write_benchmarks(out)
        log(f"BENCHMARKS.md: {SECTION!r} rebuilt")
    if args.quick:
        print(section(out, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
