"""Evidence on real data: `mycroft-fl compare`'s evaluation protocol on the shipped scenarios and on
their variants whose trainer names no hard classes, set beside our targets, written into BENCHMARKS.md
("## Evidence on real data").

Run:

    .venv/bin/python scripts/bench_evidence.py [--seeds 10] [--scenarios fashion,spurious,...]
        [--variant both|named|all-classes] [--no-valuation] [--quick] [--section-only]

For each scenario (and, with the default `--variant both`, its variant `Scenario.without_hard_classes()`
where that is a different trainer) this calls `mycroft_fl.cli.compare.compare` in-process, the very code
behind `mycroft-fl compare`, with mycroft and random at a small budget and at 5% and 10% of an owner's
data, `full-information` as the reference, and the data-valuation baselines `loo` and `shapley` where
they are cheap (digits). Each comparison's compare.json, compare.md and plots go to
runs/evidence/NAME/ as soon as it finishes, its plots are copied to docs/evidence/, and the BENCHMARKS.md
section is rebuilt from every runs/evidence/*/compare.json present, so a partial run (or scenarios run in
separate processes) still leaves a complete, honest section for what was measured.

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

from mycroft_fl.trainer.ranking import detection

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Evidence on real data"
OUT = ROOT / "runs" / "evidence"
QUICK_OUT = ROOT / "runs" / "evidence-quick"
DOCS = ROOT / "docs" / "evidence"
COMMAND = ".venv/bin/python scripts/bench_evidence.py"

BASE_STRATEGIES = ("mycroft", "random")
VALUATION_STRATEGIES = ("loo", "shapley")
VALUED = ("digits",)  # loo and shapley only where cheap: digits' 5 owners, 32 retrains a seed
OWNER_SIZE = {"fashion": 800, "spurious": 640, "credit": 240, "diamonds": 400, "digits": 120}
# A small budget, then 5% and 10% of one owner's data (owner size in the scenario file).
BUDGETS = {
    "fashion": (16, 40, 80),
    "spurious": (16, 32, 64),
    "credit": (4, 12, 24),
    "diamonds": (8, 20, 40),
    "digits": (3, 6, 12),
}
ORDER = ("fashion", "spurious", "credit", "diamonds", "digits")
VARIANT = "-all-classes"  # Scenario.without_hard_classes()'s name suffix

# Targets of the evaluation protocol (issue 10), Mycroft at each budget.
RANDOM_FLOOR = (
    -0.02
)  # Mycroft - random, combined hard acc: the 95% interval's lower end not below -2 pts
HARM_TARGET = 0.90  # harm detection precision and recall, each
REGRET_RATIO = 0.25  # Mycroft's regret@k at most a quarter of random choice's
GAIN_SHARE = {
    0.05: 0.80,
    0.10: 0.90,
}  # share of full information's gain at 5% and 10% of an owner's data

PAPER = {
    "spurious": "Paper, Dogs & Wolves (its spurious-correlation task): Mycroft ≈ 90% of full information's "
    "gain and +61 points over random.",
    "fashion": "Paper, closest setting (a thin-class image task, Food101→UPMC): +12 to +15 points over "
    "random at budgets 16 to 128.",
}
# How the recorded run was made, written by hand; re-read it whenever the runs change.
RUN_NOTE = (
    "The recorded runs (2026-12-02, two CPU cores shared with other jobs): 20 seeds on credit and "
    "diamonds and its variant with commit f958233, whose label audit votes with a random forest on "
    "feature vectors where it beats the neighbours beyond noise (credit's and diamonds' trainers; "
    "digits' keeps the neighbours, and images always do); 20 seeds on digits and its variant with "
    "commit d4643ba, whose first 10 seeds reproduce the earlier 10-seed runs of commit a17366c figure "
    "for figure; 10 seeds on spurious and fashion with commit 678e6ce and on fashion's variant with "
    "commit 8ed4111 (the owner-side streaming, max-in-flight and EcoVal changes in between change no "
    "figure: `--quick` gives digits' and credit's first two seeds identically, and the forest audit "
    "does not touch images or digits). `spurious` names both of its two classes and `credit` none, so "
    "their variants are the same trainers and were not run twice. The budgeted strategies gradmatch "
    "and retrieval were left out for compute (`mycroft-fl compare --strategies` runs them)."
)
# A reading of each comparison, written by hand from its tables; re-read it whenever the figures change.
READING = {
    "fashion": (
        "Reading (run of 2026-12-02, commit 678e6ce, 10 seeds): Mycroft leads random at every budget "
        "(+6.4, +2.8 and +2.5 points; intervals above −2: met) and reaches 76% and 81% of full "
        "information's gain at 5% and 10% (both missed); test accuracy rises over the control in every "
        "seed. Its regret@3 is 0.16–0.19 of random choice's at every budget (met; 0.25–0.32 over the "
        "earlier 5 seeds). The audit flags `noisy` in every seed at 40 and 80 images (recall 1.00; 0.90 "
        "at 16) but also `rotated` and `inverted` in every seed and `erased` in half of them: a vote on "
        "pixels cannot recognise rotated or inverted garments, so their random samples do not get their "
        "labels from the trainer's data. Counted as owners built to mislead only by label noise, "
        "precision is 0.27–0.29; full information flags `rotated` and `inverted` in every seed too, on "
        "held-out damage. Among the honest owners Mycroft's ranking agrees with full information's "
        "(Kendall 0.79–0.82) nearly as well as full information agrees with itself across seeds (0.96)."
    ),
    "spurious": (
        "Reading (run of 2026-12-02, commit 678e6ce, 10 seeds): the clearest case for the method. Mycroft "
        "leads random by 11–15 points at every budget with intervals far above 0, reaches 83% of full "
        "information's gain at 5% and 93% at 10% (both met) with test accuracy 27–35 points over the "
        "control in every seed, and its regret@3 is 0.13–0.18 of random choice's (met). The audit flags "
        "`noisy` in every seed and no honest owner (recall and precision 1.00): the vote on its picks "
        "could not, because its flipped labels on cue-aligned images are the very counter-examples the "
        "hard set lacks, but a random sample of its data shows the flips. The scenario names both of its "
        "classes, so its variant without named hard classes is the same trainer."
    ),
    "credit": (
        "Reading (run of 2026-12-02, commit f958233, 20 seeds): Mycroft leads random by 4–10 points at "
        "every budget (intervals above 0: met), but reaches only 57% of full information's gain at 5% and "
        "61% at 10% (both missed), and test accuracy falls below the control in 4 of 20 seeds at both. "
        "The label audit's voter is now a random forest (its out-of-bag votes beat the neighbours' beyond "
        "noise on the trainer's rows): it flags `flipped` in every seed at every budget (recall 1.00; "
        "0.70 with the neighbours' vote, which separated clean from flipped labels 0.64 against 0.36) and "
        "`corrupted` in 2 of 20 (precision 0.95: met), so no flipped row enters the combined model. "
        "Regret@3 is no better than random choice's (0.65–1.15) and the ranking of the honest owners does "
        "not agree with full information's (Kendall −0.07–0.25 against the reference's own 0.75): the "
        "owners full information values most (`singles`, `renters`) are mixed groups whose value lies in "
        "their breadth, which 4–24 rows do not carry (Mycroft ranks them 3.5 and 5.0 on average). The "
        "scenario names no hard classes, so it is its own variant."
    ),
    "digits": (
        "Reading (run of 2026-12-02, commit d4643ba, 20 seeds; the first 10 give exactly the figures of "
        "the earlier 10-seed run): with 3, 6 and 12 samples an owner, Mycroft reaches 65%, 83% and 91% of "
        "full information's gain (5% and 10% met; at 10 seeds the 5% cell was 79.7%) and leads random at "
        "every budget (+8.9, +5.0, +4.1 points, every interval above 0: met; at 10 seeds the 6-sample "
        "interval reached −2.8, a tie measured on 10 seeds' noise). The label audit flags `noisy` in "
        "every seed at every budget and no honest owner (harm recall and precision 1.00), so `noisy` "
        "never enters the top three and regret@3 is 0.05 of random choice's (met). Data Shapley on every "
        "owner's whole data agrees with full information best."
    ),
    "digits-all-classes": (
        "Reading (run of 2026-12-02, commit d4643ba, 20 seeds): without named hard classes the hard "
        "samples spread over every digit the baseline gets wrong. Mycroft leads random at every budget "
        "(+8.6, +4.5 and +1.8 points; intervals above −2: met) and reaches 77% and 86% of full "
        "information's gain at 5% and 10% (both missed). The audit flags `noisy` in every seed (harm "
        "recall and precision 1.00), which keeps regret@3 at 0.02–0.03 of random's (met)."
    ),
    "fashion-all-classes": (
        "Reading (run of 2026-12-02, commit 8ed4111, 10 seeds; images keep the neighbours' vote, so the "
        "forest audit of commit f958233 changes nothing here): Mycroft leads random by 7–11 points, by "
        "more than with named hard classes, and reaches 78% and 89% of full information's gain at 5% and "
        "10% (both missed, by 2 and 1 points); test accuracy rises over the control in every seed. "
        "Regret@3 is 0.23 of random choice's at 5% (met) and 0.28–0.29 at 2% and 10% (missed; 0.16–0.18 "
        "over the first 3 seeds): the audit flags `erased` in 5 of 10 seeds, which full information never "
        "does, and `erased` (full information's rank 3.5) then drops out of Mycroft's top three. The "
        "audit flags `noisy` in every seed (recall 1.00) and `rotated` and `inverted`, whose images a "
        "vote on pixels cannot recognise, as full information does on all their data (same verdicts as "
        "full information: recall 0.95–0.97, precision 0.81–0.83; precision 0.27–0.28 counting only "
        "mislabelled owners as misleading)."
    ),
    "diamonds": (
        "Reading (run of 2026-12-02, commit f958233, 20 seeds): the label audit's voter is now a random "
        "forest (cut is graded from 2 of 22 columns; the neighbours' vote, drowned by the others, agreed "
        "with clean Fair and Good labels 0.34 of the time, the forest 0.69). It flags `flipped` and the "
        "column-shuffled `corrupted` in every seed at every budget (recall 1.00, against 0.40–0.75), so "
        "neither enters the combined model (`corrupted` did in 16 of 20 seeds), and Mycroft's harm flags "
        "agree with full information's (recall 0.78–0.91, precision 0.97–0.98). Counted against the "
        "owners declared misleading (label noise only), precision is 0.42–0.49: `corrupted`'s labels are "
        "right, and `specialist` is flagged on damage in 10 of 20 seeds (full information: 11 of 20), "
        "whose Fair and Good cuts make the model worse on the trainer's held-out validation data beyond "
        "noise. Regret@3 now meets the target at 2% and 5% (0.20, 0.23; it was 0.51–0.62) and is 0.38 at "
        "10%; among honest owners Mycroft agrees with full information (Kendall 0.59–0.69) as well as "
        "full information agrees with itself (0.56). Mycroft − random: +2.0 at 2% (met), −1.5 [−3.2, "
        "+0.6] at 5% and −1.8 [−4.5, +1.3] at 10% (missed): `corrupted`'s rows, right labels on shuffled "
        "proportions, had carried part of Mycroft's hard accuracy (it was +1.1 at 10%) at a cost in test "
        "accuracy, which now falls below the control in 4–6 seeds of 20 instead of 8–10. Two causes, "
        "computed from the runs: where Mycroft and random combine the same three owners (11 of 20 seeds) "
        "Mycroft trails by 0.6 and 1.5 points (its atypical Fair and Good rows teach this weak model "
        "less than random ones); where they differ (9 seeds, mostly Mycroft's `sparse` for random's "
        "`specialist`, whose Mycroft subset is flagged on damage) by 2.5 and 2.2. The mixes of "
        '"Selection: gradient matching mixed with coverage" and filling the budget did not close the '
        "gap; two rounds do at 5% (34.2% against random's 32.3% on the same first 10 seeds; see "
        "Rounds) and match random at 10% (40.0% each)."
    ),
    "diamonds-all-classes": (
        "Reading (run of 2026-12-02, commit f958233, 20 seeds): with no named hard classes full "
        "information sends every owner's 400 diamonds and flags `flipped` and `corrupted` in every seed; "
        "so does the forest-voted audit on Mycroft's 32 random rows (recall 1.00, against 0.30–0.45 with "
        "the neighbours' vote; `corrupted` in 19 of 20 seeds), and Mycroft's flags agree with full "
        "information's (recall and precision 0.97–0.98; 0.50–0.52 counting `corrupted`, whose labels are "
        "right, as a false alarm). Neither enters the combined model any more, and regret@3 falls to "
        "0.16–0.27 of random choice's (met at 2% and 10%, 0.27 at 5%; it was 0.76–0.93) with Kendall "
        "0.61–0.68 among honest owners (0.22–0.34 before). Mycroft leads random by 2.1–3.9 points "
        "(intervals above 0: met) but reaches only 38–54% of full information's gain (missed): 8–40 rows "
        "spread over five hard cuts, against full information's 400."
    ),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_scenario(
    name: str,
    seeds: int,
    budgets: tuple[int, ...],
    out: Path,
    *,
    docs: bool,
    all_classes: bool = False,
    valuation: bool | None = None,
) -> dict:
    """Run one comparison (of the scenario, or with `all_classes` of its variant whose trainer names no
    hard classes), write its files under out/<scenario name>, and return its compare.json as a dict.
    `valuation` adds loo and shapley (default: on the scenarios where they are cheap, `VALUED`)."""
    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)  # as `mycroft-fl compare` does: small models, one thread each
    valuation = name in VALUED if valuation is None else valuation
    strategies = [*BASE_STRATEGIES, *(VALUATION_STRATEGIES if valuation else ())]
    scenario = load_scenario(name)
    if all_classes:
        scenario = scenario.without_hard_classes()
    label = scenario.name
    log(
        f"{label}: strategies {','.join(strategies)}, budgets {','.join(map(str, budgets))}, {seeds} seeds"
    )
    last = [time.perf_counter()]

    def progress(step: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if step.startswith("compare:") or now - last[0] >= 30:  # a step, or a long step's heartbeat
            log(f"{label}: [{done}/{total}] {step}  (+{now - last[0]:.1f} s)")
            last[0] = now

    start = time.perf_counter()
    result = compare(scenario, strategies, list(budgets), seeds, progress=progress)
    wall = time.perf_counter() - start
    target = out / label
    command = (
        f"{COMMAND} --scenarios {name} --seeds {seeds} --variant "
        + ("all-classes" if all_classes else "named")
        + ("" if valuation == (name in VALUED) else " --no-valuation")
    )
    path = result.write(target, command)
    doc = json.loads(path.read_text())
    doc["evidence"] = {
        "source_scenario": name,
        "all_classes": all_classes,
        "hard_classes": scenario.trainer.hard_classes,
        "wall_s": round(wall, 1),
        "command": command,
        "owner_size": OWNER_SIZE.get(name),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    if docs:
        copy_plots(target, label)
    log(f"{label}: done in {wall:.0f} s -> {target}")
    return doc


def names_hard_classes(name: str) -> bool:
    """Whether the scenario's trainer names hard classes other than all of them (else its variant
    without named hard classes is the same trainer)."""
    from mycroft_fl.scenarios.spec import load_scenario

    sc = load_scenario(name)
    hard = sc.trainer.hard_classes
    return hard is not None and len(set(hard)) < sc.trainer_data().n_classes


# ---------------------------------------------------------------------------------------------- the section


def _pts(s: dict | None, interval: bool = True) -> str:
    """A figure in points (x 100), signed, with its 95% interval."""
    if not s or s.get("mean") is None:
        return "-"
    text = f"{100 * s['mean']:+.1f}"
    if interval and s.get("lo") is not None:
        text += f" [{100 * s['lo']:+.1f}, {100 * s['hi']:+.1f}]"
    return text


def _num(s: dict | None, fmt: str = ".2f", scale: float = 1.0) -> str:
    return "-" if not s or s.get("mean") is None else format(scale * s["mean"], fmt)


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else (" **MET**" if ok else " **MISSED**")


def _aggs(doc: dict) -> dict[tuple[str, int | None], dict]:
    return {(a["strategy"], a["budget"]): a for a in doc["aggregates"]}


def _runs(doc: dict, strategy: str, budget: int | None) -> list[dict]:
    return [r for r in doc["runs"] if r["strategy"] == strategy and r["budget"] == budget]


def _share_target(doc: dict, budget: int) -> float | None:
    """The gain-share target at this budget: where it is 5% or 10% of an owner's data."""
    size = doc.get("evidence", {}).get("owner_size")
    return next((t for f, t in GAIN_SHARE.items() if size and budget == round(f * size)), None)


def _label(doc: dict) -> str:
    ev = doc.get("evidence", {})
    hard = ev.get("hard_classes")
    named = "no (every class)" if ev.get("all_classes") or hard is None else f"yes {list(hard)}"
    return f"`{doc['scenario']}` | {named} | {len(doc['settings']['seeds'])}"


def targets(doc: dict) -> list[str]:
    """One row per budget: Mycroft's figures against each target, MET or MISSED."""
    aggs, rows = _aggs(doc), []
    size = doc.get("evidence", {}).get("owner_size")
    for b in doc["settings"]["budgets"]:
        m = aggs.get(("mycroft", b))
        if m is None:
            continue
        d = m["minus_random"]
        low = d.get("lo") if d.get("lo") is not None else d.get("mean")
        diff = _pts(d) + _verdict(None if low is None else low >= RANDOM_FLOOR)
        g, target = m["gain_fraction"]["mean"], _share_target(doc, b)
        below = sum(r["test_minus_control"] < 0 for r in _runs(doc, "mycroft", b))
        share = (
            "undefined (full info gains nothing)"
            if g is None
            else f"{g:.0%}" + (_verdict(g >= target and not below) if target else "")
        )
        test = f"{_pts(m['test_minus_control'])}, below in {below}/{m['test_minus_control']['n']}"
        mine, rnd = m["regret_at_k"]["mean"], m["random_regret_at_k"]["mean"]
        regret = (
            "-"
            if mine is None or rnd is None
            else f"{100 * mine:.1f} / {100 * rnd:.1f}"
            + (f" ({mine / rnd:.2f})" if rnd > 0 else "")
            + _verdict(mine <= REGRET_RATIO * rnd)
        )
        recall, precision = m["harm_recall"]["mean"], m["harm_precision"]["mean"]
        harm = (
            "no misleading owner"
            if recall is None
            else f"{recall:.2f} / {'-' if precision is None else format(precision, '.2f')}"
            + _verdict(recall >= HARM_TARGET and precision is not None and precision >= HARM_TARGET)
        )
        pct = f" ({b / size:.0%})" if size else ""
        agree = f"{_num(m['kendall_honest'])} / {_num(doc.get('reference_agreement'))}"
        verdicts = " / ".join(_num(v) for v in verdict_agreement(doc, b))
        rows.append(
            f"| {_label(doc)} | {b}{pct} | {diff} | {share} | {test} | {regret} | {harm} | {verdicts} "
            f"| {agree} |"
        )
    return rows


def verdict_agreement(doc: dict, budget: int) -> tuple[dict, dict]:
    """Mycroft's harm flags at `budget` as a detector of full information's flags of the same seed
    (whatever the owner was built as): mean recall and precision over the seeds where each is defined."""
    refs = {r["seed"]: r for r in _runs(doc, "full-information", None)}
    recalls, precisions = [], []
    for r in _runs(doc, "mycroft", budget):
        ref = refs.get(r["seed"])
        if ref is None:
            continue
        flagged = {o for o, v in r["owners"].items() if v["harmful"]}
        precision, recall = detection(
            flagged, {o for o, v in ref["owners"].items() if v["harmful"]}
        )
        recalls += [] if recall is None else [recall]
        precisions += [] if precision is None else [precision]
    return tuple({"mean": sum(v) / len(v) if v else None} for v in (recalls, precisions))


TARGETS_HEAD = [
    "| scenario | hard classes named | seeds | budget (% of an owner) | Mycroft − random, pts [95% CI] "
    "(lower end ≥ −2) | share of full-info gain (≥ 80% at 5%, ≥ 90% at 10%, test acc never below "
    "control) | test acc − control, pts [95% CI] | regret@3, pts: Mycroft / random (ratio ≤ 0.25) | harm "
    "recall / precision (≥ 0.90) | same verdicts as full information: recall / precision | Kendall "
    "tau-b, honest owners: Mycroft / full info seed to seed |",
    "|---|---|---:|---|---|---|---|---|---|---|---|",
]


def table(doc: dict) -> list[str]:
    """Every strategy and budget of one comparison: the protocol's figures."""
    rows = [
        "| strategy | budget | held-out hard acc | share of full-info gain | − random, pts [95% CI] | test acc − "
        "control, pts [95% CI] | regret@3, pts [95% CI] | random's regret@3 | precision@3 | NDCG@3 | "
        "precision@3 / NDCG@3 vs Shapley | harm recall | harm precision | Kendall tau-b, honest | samples "
        "sent | retrains |",
        "|---|---|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    c = doc["control"]
    rows.append(
        f"| control (no owner data) | 0 | {100 * c['hard_accuracy']['mean']:.1f} | | | | | | | | | | | | 0 | |"
    )
    for a in doc["aggregates"]:
        g = a["gain_fraction"]["mean"]
        regret = a["regret_at_k"]
        rows.append(
            " | ".join(
                [
                    f"| {'**' + a['strategy'] + '**' if a['strategy'] == 'mycroft' else a['strategy']}",
                    "all" if a["budget"] is None else str(a["budget"]),
                    f"{100 * a['combined_hard_accuracy']['mean']:.1f}",
                    "-" if g is None else f"{g:.0%}",
                    "itself" if a["strategy"] == "random" else _pts(a["minus_random"]),
                    _pts(a["test_minus_control"]),
                    "-"
                    if regret["mean"] is None
                    else f"{100 * regret['mean']:.1f}"
                    + (
                        ""
                        if regret["lo"] is None
                        else f" [{100 * regret['lo']:.1f}, {100 * regret['hi']:.1f}]"
                    ),
                    _num(a["random_regret_at_k"], ".1f", 100),
                    _num(a["precision_at_k"]),
                    _num(a["ndcg_at_k"]),
                    f"{_num(a['precision_at_k_shapley'])} / {_num(a['ndcg_at_k_shapley'])}",
                    _num(a["harm_recall"]),
                    _num(a["harm_precision"]),
                    _num(a["kendall_honest"]),
                    _num(a["exposed_total"], ".0f"),
                    _num(a["retrains"], ".0f"),
                ]
            )
            + " |"
        )
    return rows


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
    misleading = set(doc["settings"]["misleading"])
    lines = [
        f"Why (per owner, mean over {n} seeds; utility = gain in held-out hard accuracy, points; rank 1 = "
        f"best; harmful = times flagged; in combined = times among the owners of the combined model). "
        f"Mycroft and random at budget {budget}; † = built to mislead.",
        "",
        "| owner | full-info utility | rank | harmful | in combined | Mycroft utility | rank | harmful | "
        "in combined | random utility | rank | harmful | in combined |",
        "|---|" + "---:|" * 12,
    ]
    lines += [
        f"| {o}{' †' if o in misleading else ''} | {col(refs, o)} | {col(mine, o)} | {col(rnd, o)} |"
        for o in owners
    ]
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
            + (", ".join(f"`{o}` ({k}/{n})" for o, k in used.most_common(4)) or "no owner's data")
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
    return lines + [""]


#: The plots of a comparison kept in docs/evidence as NAME_<file>.
PLOTS = ("accuracy_vs_budget.png", "ranking_mycroft.png")


def copy_plots(target: Path, name: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for plot in PLOTS:
        shutil.copyfile(target / plot, DOCS / f"{name}_{plot}")


def scenario_section(doc: dict, docs_rel: str | None) -> list[str]:
    name, s, ev = doc["scenario"], doc["settings"], doc.get("evidence", {})
    fit = sum(t.get("fit_s", 0) for t in doc["trainers"])
    lines = [
        f"### {name}",
        "",
        f"{s['owners']} owners of {ev.get('owner_size', '?')} samples; budgets "
        f"{', '.join(map(str, s['budgets']))}; seeds {', '.join(map(str, s['seeds']))}; misleading owners: "
        f"{', '.join(f'`{o}`' for o in s['misleading']) or 'none'}. Wall time "
        f"{ev.get('wall_s', doc['timings']['total_s']):.0f} s ({fit:.0f} s of it fitting the trainers; "
        f"finished {ev.get('finished', '?')}; `{ev.get('command', '')}`).",
        "",
        *table(doc),
        "",
        *diagnostics(doc),
    ]
    if PAPER.get(ev.get("source_scenario", name)):
        lines += [PAPER[ev.get("source_scenario", name)], ""]
    if READING.get(name):
        lines += [READING[name], ""]
    if docs_rel:
        lines += [
            f"![{name}: combined hard accuracy vs budget]({docs_rel}/{name}_accuracy_vs_budget.png)",
            "",
        ]
    return lines


def section(out: Path, docs_rel: str | None) -> str:
    docs = []
    for name in ORDER:
        for label in (name, name + VARIANT):
            path = out / label / "compare.json"
            if path.is_file():
                docs.append(json.loads(path.read_text()))
    measured = {d.get("evidence", {}).get("source_scenario", d["scenario"]) for d in docs}
    missing = [n for n in ORDER if n not in measured]
    lines = [
        SECTION,
        "",
        f"Generated by `{COMMAND}` (see its docstring), which runs `mycroft_fl.cli.compare.compare` — the code "
        "behind `mycroft-fl compare` — on each shipped real-data scenario and on its variant whose trainer "
        "names no hard classes (`--no-hard-classes`; every validation sample its baseline gets wrong is hard), "
        "and rebuilds this section from runs/evidence/*/compare.json. Strategies: Mycroft and random at a "
        "small budget and at 5% and 10% of an owner's data, full information (every owner sample of the hard "
        "classes) as the reference; the data-valuation baselines loo and Data Shapley only on digits, where "
        "they are cheap (5 owners, 32 retrains a seed). Every figure is on held-out hard samples, which no "
        "owner saw, unless it says test accuracy; intervals are 95% percentile bootstrap intervals of the "
        "mean over seeds.",
        "",
        "The protocol (definitions in each compare.json): *Mycroft − random* is the paired per-seed "
        "difference of the combined models' hard accuracy at the same budget. *Share of full-info gain* = "
        "(combined hard acc − control) / (full-information combined hard acc − control), per seed. "
        "*Regret@3*: the hard-accuracy gain lost by buying the full-information subsets of the strategy's 3 "
        "best-ranked owners together instead of the best 3 owners not built to mislead (every coalition of 3 "
        "owners retrained once a seed); *random's* is the expected regret of 3 owners drawn at random. "
        "*Harm recall / precision*: owners flagged harmful as a detector of the owners built to mislead, "
        "declared by rule, not by outcome: label_noise ≥ 0.5 or a cheating `behaviour` (owners with "
        "corrupted features or images keep their true labels and are not counted). *Same verdicts as full "
        "information*: the flags as a detector of full information's flags of the same seed, which judges "
        "each owner on all its data, whatever it was built as (garbled inputs included), mean over "
        "seeds. *Kendall tau-b, honest*: "
        "against full information's ranking over the other owners, beside full information's own "
        "agreement between pairs of seeds. Precision@3 and NDCG@3 are against full information's ranking "
        "(and Data Shapley's where it ran).",
        "",
        "Targets, Mycroft at every budget: Mycroft − random's 95% interval not below −2 points; harm recall "
        "and precision ≥ 0.90; regret@3 ≤ 1/4 of random's; share of full information's gain ≥ 80% at 5% "
        "and ≥ 90% at 10% of an owner's data, with test accuracy never below the control. Every figure is "
        "as measured; no scenario was tuned to pass.",
        "",
        RUN_NOTE,
        "",
    ]
    if missing:
        lines += [f"Not measured in this run: {', '.join(missing)}.", ""]
    if docs:
        lines += ["Targets at a glance:", "", *TARGETS_HEAD]
        for doc in docs:
            lines += targets(doc)
        lines += [""]
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
    p.add_argument("--seeds", type=int, default=10, help="seeds per scenario (default 10)")
    p.add_argument(
        "--scenarios", default=",".join(ORDER), help="comma-separated, of " + ", ".join(ORDER)
    )
    p.add_argument(
        "--variant",
        choices=("both", "named", "all-classes"),
        default="both",
        help="the scenario as shipped, its variant whose trainer names no hard classes, or both "
        "(default; the variant is skipped where it is the same trainer)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="2 seeds, one budget, digits and credit only; writes "
        "runs/evidence-quick and prints the section",
    )
    p.add_argument("--no-valuation", action="store_true", help="leave out loo and shapley")
    p.add_argument(
        "--section-only",
        action="store_true",
        help="rebuild the BENCHMARKS.md section from the "
        "existing runs/evidence/*/compare.json; run nothing",
    )
    args = p.parse_args(argv)
    if args.section_only:
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
        budgets = BUDGETS[name][1:2] if args.quick else BUDGETS[name]
        variants = {"both": (False, True), "named": (False,), "all-classes": (True,)}[args.variant]
        for all_classes in variants:
            if all_classes and not names_hard_classes(name):
                log(f"{name}: names no hard classes (or all of them): no separate variant")
                continue
            run_scenario(
                name,
                seeds,
                budgets,
                out,
                docs=not args.quick,
                all_classes=all_classes,
                valuation=False if args.no_valuation else None,
            )
            if not args.quick:
                write_benchmarks(out)
                log(f"BENCHMARKS.md: {SECTION!r} rebuilt")
    if args.quick:
        print(section(out, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
