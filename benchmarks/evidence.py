"""Evidence on real data: the evaluation protocol (`compare`) on the shipped scenarios and on their
variants whose trainer names no hard classes, beside our targets.

For each scenario (and its variant `Scenario.without_hard_classes()` where that is another trainer)
`mycroft_fl.evaluation.comparison.compare` runs, in-process, Mycroft and random at a small budget and at
5% and 10% of an owner's data, full information as the reference, and the data-valuation baselines
`loo` and `shapley` where they are cheap (digits). Each comparison is one part of the results, keyed
`LABEL/SEEDS`; its compare.json, compare.md and plots also go to runs/evidence/LABEL/ (`--plots` copies
the plots to docs/evidence/, where the section shows them). `--quick`: 2 seeds and the 5% budget, on
digits and credit unless `--scenarios` says otherwise.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.md import Reading, num, paragraphs, provenance, pts, table, verdict

TITLE = "## Evidence on real data"
SEEDS = 10
ORDER = ("fashion", "spurious", "credit", "diamonds", "digits")
SCENARIOS = ORDER
QUICK = ("digits", "credit")
VARIANT = "-all-classes"  # Scenario.without_hard_classes()'s name suffix
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "evidence"
PLOTS = "docs/evidence"  # the shown comparisons' plots, as LABEL_accuracy_vs_budget.png
PLOT_FILES = ("accuracy_vs_budget.png", "ranking_mycroft.png")  # of compare's, kept in PLOTS

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


def five_percent_budget(name: str) -> int:
    """Scenario `name`'s budget nearest 5% of one owner's data, for benchmarks measured there."""
    if name not in BUDGETS:
        raise SystemExit(f"unknown scenario {name!r}: use {', '.join(ORDER)}")
    return min(BUDGETS[name], key=lambda b: abs(b - 0.05 * OWNER_SIZE[name]))


# Targets of the evaluation protocol (issue 10), Mycroft at each budget.
RANDOM_FLOOR = -0.02  # Mycroft - random: the 95% interval's lower end not below -2 points
HARM_TARGET = 0.90  # harm detection precision and recall, each
REGRET_RATIO = 0.25  # Mycroft's regret@k at most a quarter of random choice's
GAIN_SHARE = {0.05: 0.80, 0.10: 0.90}  # share of full information's gain at 5% and 10% of an owner

FIGURES = (  # a comparison's aggregate figures the section shows, as compare.json names them
    "combined_hard_accuracy",
    "gain_fraction",
    "minus_random",
    "test_minus_control",
    "regret_at_k",
    "random_regret_at_k",
    "precision_at_k",
    "ndcg_at_k",
    "precision_at_k_shapley",
    "ndcg_at_k_shapley",
    "harm_recall",
    "harm_precision",
    "kendall_honest",
    "exposed_total",
    "retrains",
)


def add_options(parser) -> None:
    parser.add_argument(
        "--variant",
        choices=("both", "named", "all-classes"),
        default="both",
        help="the scenario as shipped, its variant whose trainer names no hard classes, or both "
        "(default; the variant is skipped where it is the same trainer)",
    )
    parser.add_argument("--no-valuation", action="store_true", help="leave out loo and shapley")
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"compare's files, per comparison (default {OUT})"
    )
    parser.add_argument(
        "--plots",
        action="store_true",
        help=f"copy each comparison's plots to {PLOTS}/ as LABEL_<plot> (for the comparison the "
        "section shows: its main plot appears there)",
    )


# ------------------------------------------------------------------------------------------ measure


def names_hard_classes(name: str) -> bool:
    """Whether the scenario's trainer names hard classes other than all of them (else its variant
    without named hard classes is the same trainer)."""
    from mycroft_fl.scenarios.spec import load_scenario

    sc = load_scenario(name)
    hard = sc.trainer.hard_classes
    return hard is not None and len(set(hard)) < sc.trainer_data().n_classes


def comparison(
    name: str,
    seeds: int,
    budgets: tuple[int, ...],
    *,
    all_classes: bool = False,
    valuation: bool | None = None,
    out: Path | None = None,
    log=print,
) -> dict:
    """One comparison (of the scenario, or with `all_classes` of its variant whose trainer names no
    hard classes) as compare.json's dict, without its definitions, with what the section needs to know
    about it under `evidence`. `valuation` adds loo and shapley (default: where cheap, `VALUED`)."""
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
    log(f"{label}: {','.join(strategies)} at {','.join(map(str, budgets))}, {seeds} seeds")
    last = [time.perf_counter()]

    def progress(step: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if step.startswith("compare:") or now - last[0] >= 60:  # a step, or a long step's heartbeat
            log(f"{label}: [{done}/{total}] {step}")
            last[0] = now

    start = time.perf_counter()
    result = compare(scenario, strategies, list(budgets), seeds, progress=progress)
    wall = time.perf_counter() - start
    if out is not None:
        result.write(out / label, f"python -m benchmarks run evidence --scenarios {name}")
    doc = result.to_dict()
    doc.pop("definitions", None)  # the package's own text (mycroft_fl.evaluation.protocol)
    doc["evidence"] = {
        "source_scenario": name,
        "all_classes": all_classes,
        "hard_classes": scenario.trainer.hard_classes,
        "owner_size": OWNER_SIZE.get(name),
        "wall_s": round(wall, 1),
    }
    return doc


def copy_plots(source: Path, label: str, docs: Path = ROOT / PLOTS) -> None:
    """Copy a comparison's plots (compare's files in `source`) to `docs` as LABEL_<plot>, where the
    section and the documentation show them."""
    docs.mkdir(parents=True, exist_ok=True)
    for plot in PLOT_FILES:
        shutil.copyfile(source / plot, docs / f"{label}_{plot}")


def measure(options) -> Iterator[tuple[str, dict]]:
    if options.plots and options.no_write:
        raise SystemExit("--plots needs compare's files: leave out --no-write")
    default = options.scenarios == list(SCENARIOS)
    names = list(QUICK) if options.quick and default else options.scenarios
    unknown = [n for n in names if n not in BUDGETS]
    if unknown:
        raise SystemExit(f"unknown scenario {unknown[0]!r}: use {', '.join(ORDER)}")
    seeds = 2 if options.quick else options.seeds
    variants = {"both": (False, True), "named": (False,), "all-classes": (True,)}[options.variant]
    for name in names:
        budgets = BUDGETS[name][1:2] if options.quick else BUDGETS[name]
        for all_classes in variants:
            if all_classes and not names_hard_classes(name):
                continue  # names no hard classes (or all of them): the variant is the same trainer
            doc = comparison(
                name,
                seeds,
                budgets,
                all_classes=all_classes,
                valuation=False if options.no_valuation else None,
                out=None if options.no_write else options.out,
                log=lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True),
            )
            if options.plots:
                copy_plots(options.out / doc["scenario"], doc["scenario"])
            yield f"{doc['scenario']}/{seeds}", doc


# --------------------------------------------------------------------------------- the figures shown


def _stat(s: dict | None) -> dict | None:
    return None if s is None else {k: s.get(k) for k in ("mean", "lo", "hi")}


def _runs(doc: dict, strategy: str, budget: int | None) -> list[dict]:
    return [r for r in doc["runs"] if r["strategy"] == strategy and r["budget"] == budget]


def summarise(doc: dict) -> dict:
    """Every figure the section shows of one comparison (compare.json's dict): what a recorded
    comparison keeps when its runs are gone. Means are compare's; the rest is computed from the runs."""
    from mycroft_fl.trainer.ranking import detection

    s, ev = doc["settings"], doc.get("evidence", {})
    rows = []
    for a in doc["aggregates"]:
        rows.append(
            {
                "strategy": a["strategy"],
                "budget": a["budget"],
                **{k: _stat(a.get(k)) for k in FIGURES},
            }
        )
    targets = {}
    refs = {r["seed"]: r for r in _runs(doc, "full-information", None)}
    for b in s["budgets"]:
        mine = _runs(doc, "mycroft", b)
        if not mine:
            continue
        agg = next(a for a in doc["aggregates"] if (a["strategy"], a["budget"]) == ("mycroft", b))
        regret, rnd = agg["regret_at_k"]["mean"], agg["random_regret_at_k"]["mean"]
        recalls, precisions = [], []
        for r in mine:  # Mycroft's flags as a detector of full information's flags of the same seed
            ref = refs.get(r["seed"])
            if ref is None:
                continue
            precision, recall = detection(
                {o for o, v in r["owners"].items() if v["harmful"]},
                {o for o, v in ref["owners"].items() if v["harmful"]},
            )
            recalls += [] if recall is None else [recall]
            precisions += [] if precision is None else [precision]
        targets[str(b)] = {
            "below": sum(r["test_minus_control"] < 0 for r in mine),
            "n": agg["test_minus_control"]["n"],
            "regret_ratio": regret / rnd if regret is not None and rnd else None,
            "verdict_recall": sum(recalls) / len(recalls) if recalls else None,
            "verdict_precision": sum(precisions) / len(precisions) if precisions else None,
        }
    return {
        "scenario": doc["scenario"],
        "source_scenario": ev.get("source_scenario", doc["scenario"]),
        "all_classes": ev.get("all_classes", False),
        "hard_classes": ev.get("hard_classes"),
        "owners": s["owners"],
        "owner_size": ev.get("owner_size"),
        "budgets": s["budgets"],
        "seeds": s["seeds"],
        "misleading": s["misleading"],
        "wall_s": ev.get("wall_s", doc["timings"]["total_s"]),
        "fit_s": sum(t.get("fit_s", 0) for t in doc["trainers"]),
        "control_hard_accuracy": doc["control"]["hard_accuracy"]["mean"],
        "reference_agreement": doc["reference_agreement"]["mean"],
        "rows": rows,
        "targets": targets,
        **_owners(doc),
    }


def _owners(doc: dict) -> dict:
    """Per owner, full information's, Mycroft's and random's mean utility and rank at the largest
    budget, how often each flagged it harmful and how often it entered the combined model; and the
    notes computed from them."""
    budget = max(doc["settings"]["budgets"])
    refs, mine, rnd = (
        _runs(doc, s, b)
        for s, b in (("full-information", None), ("mycroft", budget), ("random", budget))
    )
    if not refs or not mine:
        return {"owner_budget": budget, "owner_rows": [], "notes": []}
    n = len(refs)

    def col(runs: list[dict], owner: str) -> dict | None:
        if not runs:
            return None
        us = [r["owners"][owner]["utility"] for r in runs]
        ranks = [r["owners"][owner]["rank"] for r in runs]
        us, ranks = [u for u in us if u is not None], [k for k in ranks if k is not None]
        return {
            "utility": sum(us) / len(us) if us else None,
            "rank": sum(ranks) / len(ranks) if ranks else None,
            "harmful": sum(bool(r["owners"][owner]["harmful"]) for r in runs),
            "combined": sum(owner in r["combined_owners"] for r in runs),
            "n": len(runs),
        }

    owners = sorted(
        refs[0]["owners"], key=lambda o: sum((r["owners"][o]["rank"] or 99) for r in refs)
    )
    rows = [
        {"owner": o, "full": col(refs, o), "mycroft": col(mine, o), "random": col(rnd, o)}
        for o in owners
    ]
    notes = []
    for o in owners:  # owners full information flags in most seeds but Mycroft combines
        ref_harm = sum(bool(r["owners"][o]["harmful"]) for r in refs)
        in_mine = sum(o in r["combined_owners"] for r in mine)
        if ref_harm > n / 2 and in_mine:
            notes.append(
                f"`{o}` is flagged harmful by full information in {ref_harm}/{n} seeds, yet Mycroft's "
                f"{budget}-sample subset of it enters the combined model in {in_mine}/{len(mine)}"
            )
    aggs = {(a["strategy"], a["budget"]): a for a in doc["aggregates"]}
    full = aggs.get(("full-information", None))
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
    return {"owner_budget": budget, "owner_rows": rows, "notes": notes}


def figures(entry: dict) -> dict:
    """The figures an entry shows: summarised from its runs, or as recorded."""
    data = entry["data"]
    return data["summary"] if "summary" in data else summarise(data)


# ------------------------------------------------------------------------------------------ section

TARGETS_HEAD = (
    "scenario",
    "hard classes named",
    "seeds",
    "budget (% of an owner)",
    "Mycroft − random, pts [95% CI] (lower end ≥ −2)",
    "share of full-info gain (≥ 80% at 5%, ≥ 90% at 10%, test acc never below control)",
    "test acc − control, pts [95% CI]",
    "regret@3, pts: Mycroft / random (ratio ≤ 0.25)",
    "harm recall / precision (≥ 0.90)",
    "same verdicts as full information: recall / precision",
    "Kendall tau-b, honest owners: Mycroft / full info seed to seed",
)
TABLE_HEAD = (
    "strategy",
    "budget",
    "held-out hard acc",
    "share of full-info gain",
    "− random, pts [95% CI]",
    "test acc − control, pts [95% CI]",
    "regret@3, pts [95% CI]",
    "random's regret@3",
    "precision@3",
    "NDCG@3",
    "precision@3 / NDCG@3 vs Shapley",
    "harm recall",
    "harm precision",
    "Kendall tau-b, honest",
    "samples sent",
    "retrains",
)
OWNER_HEAD = (
    "owner",
    "full-info utility",
    "rank",
    "harmful",
    "in combined",
    "Mycroft utility",
    "rank",
    "harmful",
    "in combined",
    "random utility",
    "rank",
    "harmful",
    "in combined",
)


def _share_target(f: dict, budget: int) -> float | None:
    """The gain-share target at this budget: where it is 5% or 10% of an owner's data."""
    size = f.get("owner_size")
    return next((t for s, t in GAIN_SHARE.items() if size and budget == round(s * size)), None)


def targets(f: dict) -> list[list[str]]:
    """One row per budget: Mycroft's figures against each target, MET or MISSED."""
    named = (
        "no (every class)"
        if f["all_classes"] or f["hard_classes"] is None
        else f"yes {list(f['hard_classes'])}"
    )
    size, out = f.get("owner_size"), []
    for b in f["budgets"]:
        m = next((r for r in f["rows"] if (r["strategy"], r["budget"]) == ("mycroft", b)), None)
        t = f["targets"].get(str(b))
        if m is None or t is None:
            continue
        d = m["minus_random"] or {}
        low = d.get("lo") if d.get("lo") is not None else d.get("mean")
        diff = pts(d) + verdict(None if low is None else low >= RANDOM_FLOOR)
        g, target = (m["gain_fraction"] or {}).get("mean"), _share_target(f, b)
        below = t["below"]
        share = (
            "undefined (full info gains nothing)"
            if g is None
            else f"{g:.0%}" + (verdict(g >= target and not below) if target else "")
        )
        test = f"{pts(m['test_minus_control'])}, below in {below}/{t['n']}"
        mine, rnd = num(m["regret_at_k"], ".1f", 100), num(m["random_regret_at_k"], ".1f", 100)
        ratio = t["regret_ratio"]
        met = (
            ratio <= REGRET_RATIO
            if ratio is not None
            else None
            if mine == "-"
            else m["regret_at_k"]["mean"] <= 0  # random choice loses nothing: only 0 is as good
        )
        regret = (
            "-"
            if mine == "-" or rnd == "-"
            else f"{mine} / {rnd}" + ("" if ratio is None else f" ({ratio:.2f})") + verdict(met)
        )
        recall, precision = (
            (m["harm_recall"] or {}).get("mean"),
            (m["harm_precision"] or {}).get("mean"),
        )
        harm = (
            "no misleading owner"
            if recall is None
            else f"{recall:.2f} / {'-' if precision is None else format(precision, '.2f')}"
            + verdict(recall >= HARM_TARGET and precision is not None and precision >= HARM_TARGET)
        )
        pct = f" ({b / size:.0%})" if size else ""
        agree = f"{num(m['kendall_honest'])} / {num(f['reference_agreement'])}"
        verdicts = f"{num(t['verdict_recall'])} / {num(t['verdict_precision'])}"
        out.append(
            [
                f"`{f['scenario']}`",
                named,
                str(len(f["seeds"])),
                f"{b}{pct}",
                diff,
                share,
                test,
                regret,
                harm,
                verdicts,
                agree,
            ]
        )
    return out


def strategy_table(f: dict) -> list[str]:
    """Every strategy and budget of one comparison: the protocol's figures."""
    rows = [
        [
            "control (no owner data)",
            "0",
            f"{100 * f['control_hard_accuracy']:.1f}",
            *[""] * 11,
            "0",
            "",
        ]
    ]
    for r in f["rows"]:
        regret = r["regret_at_k"] or {}
        g = (r["gain_fraction"] or {}).get("mean")
        rows.append(
            [
                f"**{r['strategy']}**" if r["strategy"] == "mycroft" else r["strategy"],
                "all" if r["budget"] is None else str(r["budget"]),
                f"{100 * r['combined_hard_accuracy']['mean']:.1f}",
                "-" if g is None else f"{g:.0%}",
                "itself" if r["strategy"] == "random" else pts(r["minus_random"]),
                pts(r["test_minus_control"]),
                "-"
                if regret.get("mean") is None
                else f"{100 * regret['mean']:.1f}"
                + (
                    ""
                    if regret.get("lo") is None
                    else f" [{100 * regret['lo']:.1f}, {100 * regret['hi']:.1f}]"
                ),
                num(r["random_regret_at_k"], ".1f", 100),
                num(r["precision_at_k"]),
                num(r["ndcg_at_k"]),
                f"{num(r['precision_at_k_shapley'])} / {num(r['ndcg_at_k_shapley'])}",
                num(r["harm_recall"]),
                num(r["harm_precision"]),
                num(r["kendall_honest"]),
                num(r["exposed_total"], ".0f"),
                num(r["retrains"], ".0f"),
            ]
        )
    lines = table(TABLE_HEAD, "llrrlll" + "r" * 9, rows)
    for i, line in enumerate(lines):  # empty cells as the tables always had them
        while "|  |" in line:
            line = line.replace("|  |", "| |")
        lines[i] = line
    return lines


def owner_table(f: dict) -> list[str]:
    """Why: per owner, full information against Mycroft and random at the largest budget."""
    if not f["owner_rows"]:
        return []

    def col(c: dict | None) -> list[str]:
        if c is None:
            return ["-"]
        u = "-" if c["utility"] is None else f"{100 * c['utility']:+.1f}"
        rk = "-" if c["rank"] is None else f"{c['rank']:.1f}"
        return [u, rk, f"{c['harmful']}/{c['n']}", f"{c['combined']}/{c['n']}"]

    misleading = set(f["misleading"])
    n = f["owner_rows"][0]["full"]["n"]
    lines = [
        f"Why (per owner, mean over {n} seeds; utility = gain in held-out hard accuracy, points; rank 1 = "
        f"best; harmful = times flagged; in combined = times among the owners of the combined model). "
        f"Mycroft and random at budget {f['owner_budget']}; † = built to mislead.",
        "",
        *table(
            OWNER_HEAD,
            "l" + "r" * 12,
            (
                [
                    f"{r['owner']}{' †' if r['owner'] in misleading else ''}",
                    *col(r["full"]),
                    *col(r["mycroft"]),
                    *col(r["random"]),
                ]
                for r in f["owner_rows"]
            ),
        ),
    ]
    if f["notes"]:
        lines += ["", "Found (computed from the runs): " + "; ".join(f["notes"]) + "."]
    return lines


def _main_entries(entries: list[dict]) -> dict[str, list[dict]]:
    """The entries of each comparison (label), the one with the most seeds first."""
    by_label: dict[str, list[dict]] = {}
    for e in entries:
        by_label.setdefault(figures(e)["scenario"], []).append(e)
    return {
        label: sorted(es, key=lambda e: -len(figures(e)["seeds"])) for label, es in by_label.items()
    }


def _order(label: str) -> tuple[int, int]:
    base = label.removesuffix(VARIANT)
    return (ORDER.index(base) if base in ORDER else len(ORDER), label != base)


def _also(entry: dict) -> str:
    """A comparison measured on fewer seeds than the one shown, in one paragraph."""
    f = figures(entry)
    cells = []
    for b in f["budgets"]:
        m = next((r for r in f["rows"] if (r["strategy"], r["budget"]) == ("mycroft", b)), None)
        if m is not None:
            cells.append(
                f"{b}: {100 * m['combined_hard_accuracy']['mean']:.1f} "
                f"({pts(m['minus_random'], interval=False)} against random)"
            )
    seeds = f["seeds"]
    return (
        f"Seeds {', '.join(map(str, seeds))} again, by this runner: Mycroft's held-out hard accuracy "
        f"by budget {'; '.join(cells)}. " + provenance(entry)
    )


def subsection(label: str, entries: list[dict], reading: Reading) -> list[str]:
    main, *others = entries
    f = figures(main)
    seeds = ", ".join(map(str, f["seeds"]))
    misleading = ", ".join(f"`{o}`" for o in f["misleading"]) or "none"
    head = (
        f"{f['owners']} owners of {f.get('owner_size') or '?'} samples; budgets "
        f"{', '.join(map(str, f['budgets']))}; seeds {seeds}; misleading owners: {misleading}. Wall "
        f"time {f['wall_s']:.0f} s ({f['fit_s']:.0f} s of it fitting the trainers). "
        + provenance(main)
    )
    plot = ROOT / PLOTS / f"{label}_accuracy_vs_budget.png"
    return [
        paragraphs(
            f"### {label}",
            head,
            *(_also(e) for e in others),
            strategy_table(f),
            owner_table(f),
            reading.part(label),
            f"![{label}: combined hard accuracy vs budget]({PLOTS}/{label}_accuracy_vs_budget.png)"
            if plot.is_file()
            else None,
        )
    ]


INTRO = (
    "`python -m benchmarks run evidence [--scenarios a,b] [--seeds N] [--variant named|all-classes]` "
    "runs `mycroft_fl.evaluation.comparison.compare` — the code behind `mycroft-fl compare` — on each "
    "shipped real-data scenario and on its variant whose trainer names no hard classes "
    "(`--no-hard-classes`; every validation sample its baseline gets wrong is hard). Strategies: "
    "Mycroft and random at a small budget and at 5% and 10% of an owner's data, full information "
    "(every owner sample of the hard classes) as the reference; the data-valuation baselines loo and "
    "Data Shapley only on digits, where they are cheap (5 owners, 32 retrains a seed). Every figure is "
    "on held-out hard samples, which no owner saw, unless it says test accuracy; intervals are 95% "
    "percentile bootstrap intervals of the mean over seeds."
)
PROTOCOL = (
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
    "seeds. *Kendall tau-b, honest*: against full information's ranking over the other owners, beside "
    "full information's own agreement between pairs of seeds. Precision@3 and NDCG@3 are against full "
    "information's ranking (and Data Shapley's where it ran)."
)
TARGETS = (
    "Targets, Mycroft at every budget: Mycroft − random's 95% interval not below −2 points; harm recall "
    "and precision ≥ 0.90; regret@3 ≤ 1/4 of random's; share of full information's gain ≥ 80% at 5% "
    "and ≥ 90% at 10% of an owner's data, with test accuracy never below the control. Every figure is "
    "as measured; no scenario was tuned to pass."
)


def section(entries: list[dict], reading: Reading) -> str:
    comparisons = _main_entries(entries)
    labels = sorted(comparisons, key=_order)
    measured = {figures(e)["source_scenario"] for e in entries}
    missing = [n for n in ORDER if n not in measured]
    rows = [row for label in labels for row in targets(figures(comparisons[label][0]))]
    return paragraphs(
        TITLE,
        INTRO,
        PROTOCOL,
        TARGETS,
        reading.text,
        f"Not measured: {', '.join(missing)}." if missing else None,
        ["Targets at a glance:", "", *table(TARGETS_HEAD, "llrl" + "l" * 7, rows)]
        if rows
        else None,
        *(line for label in labels for line in subsection(label, comparisons[label], reading)),
    )
