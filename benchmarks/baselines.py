"""Baselines data-valuation users know (pyDVL 0.10, extra mycroft-fl[dvl]) beside Mycroft, loo and shapley.

Per scenario, `compare` runs `mycroft` (at 5% of an owner's data, the evidence benchmark's budget;
hostile: the attacks benchmark's 16; clinics, digits' owners as files: digits'),
the classic baselines `loo` and `shapley`, and pyDVL's `data-oob` (Data-OOB summed over an owner's
points) and `banzhaf` (MSR-Banzhaf over owners, each owner one group of a GroupedDataset, on this
project's utility), on the same fitted trainers with full information as the reference: regret@3,
harm precision and recall, gain share, retrains and valuation seconds. Each run's owner values are
kept too, for the field's noisy-data figure: F1 of finding the owners with flipped labels by splitting
the values in two (1-D 2-means, the lower group flagged, as OpenDataVal's noisy-detection task does).

Part `shapley-check` (`--check`): on benchmarks/data/digits-10.toml's game (ten owners, all 1,023
coalitions trained once for exact Shapley), this project's Monte Carlo Shapley (`tmc_shapley`, the
`shapley` valuer's defaults) and pyDVL's TMCShapleyValuation (the `tmc-shapley` preset's settings)
run `--mc-seeds` times each on the memoised game, so they differ only in their estimator.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from benchmarks.drivers import Acquire, lean_runs
from benchmarks.evidence import five_percent_budget
from benchmarks.md import Reading, paragraphs, provenances, table

TITLE = "## Baselines data-valuation users know: Data-OOB and MSR-Banzhaf (pyDVL)"
SEEDS = 3
SCENARIOS = ("digits", "hostile", "credit", "diamonds", "spurious", "fashion", "clinics")
STRATEGIES = ("mycroft", "loo", "shapley", "data-oob", "banzhaf")
BUDGET = {
    "hostile": 16
}  # the attacks benchmark's; elsewhere the evidence benchmark's 5% of an owner
SAME_DATA = {"clinics": "digits"}  # digits' owners written to files (benchmarks/file_example.py)
CHECK_GAME = Path(__file__).resolve().parent / "data" / "digits-10.toml"


def add_options(parser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="measure only the part shapley-check (pyDVL's TMC Shapley against this project's)",
    )
    parser.add_argument(
        "--mc-seeds", type=int, default=10, help="Monte Carlo runs per estimator (--check)"
    )
    parser.add_argument(
        "--strategies",
        type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
        default=list(STRATEGIES),
        help=f"comma-separated (default {','.join(STRATEGIES)})",
    )


def budget_of(name: str) -> int:
    """Mycroft's budget on scenario `name`: 5% of an owner's data as the evidence benchmark picks it
    (hostile: the attacks benchmark's)."""
    return BUDGET.get(name) or five_percent_budget(SAME_DATA.get(name, name))


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    torch.set_num_threads(1)
    if options.check:
        yield "shapley-check", shapley_check(3 if options.quick else options.mc_seeds)
        return
    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    seeds = 1 if options.quick else options.seeds
    default = options.scenarios == list(SCENARIOS)
    names = ["digits"] if options.quick and default else options.scenarios
    budgets = {name: budget_of(name) for name in names}  # an unknown name fails before any run
    for name, budget in budgets.items():
        scenario = load_scenario(name)
        driver = Acquire(
            record=lambda trainer, owners, config, report: {
                "values": {o.id: o.value for o in report.owners if o.status == "ok"}
            }
        )
        strategies = ["mycroft", "data-oob", "banzhaf"] if options.quick else options.strategies
        result = compare(scenario, list(strategies), [budget], seeds, driver=driver, progress=True)
        noisy = [o.id for o in scenario.owners if o.label_noise > 0]
        # a part with other strategies than the default is kept beside the default's, not in its place
        key = name if list(strategies) == list(STRATEGIES) else f"{name}:{','.join(strategies)}"
        yield (
            key,
            {**lean_runs(result.to_dict()), "values": driver.records_list(), "noisy": noisy},
        )


def shapley_check(mc_seeds: int) -> dict:
    """Exact Shapley of the digits-10 game and `mc_seeds` runs of each Monte Carlo estimator on it."""
    from mycroft_fl.scenarios.spec import load_scenario
    from mycroft_fl.trainer import dvl
    from mycroft_fl.trainer.coalitions import Coalitions
    from mycroft_fl.trainer.games import Game, exact_shapley, tmc_shapley
    from mycroft_fl.trainer.results import OwnerResult
    from mycroft_fl.trainer.trainer import Trainer
    from mycroft_fl.trainer.valuers import Shapley, TMCShapley

    scenario = load_scenario(CHECK_GAME)
    owners = scenario.owners_data()
    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=0)
    coalitions = Coalitions(trainer, [OwnerResult(k, subset=d) for k, d in owners.items()])
    game = Game(coalitions.players, coalitions.utility)
    t0 = time.perf_counter()
    exact = exact_shapley(game)
    exact_s = time.perf_counter() - t0
    own, theirs = Shapley(), TMCShapley()
    data = dvl.grouped(coalitions.subsets, game.players)
    runs = []
    for seed in range(mc_seeds):
        for estimator in ("own", "pydvl"):
            run = Game(game.players, game.value)  # counts the coalitions this run asks for
            t0 = time.perf_counter()
            if estimator == "own":
                r = tmc_shapley(
                    run,
                    permutations=own.permutations,
                    tolerance=own.truncation,
                    check_every=own.check_every,
                    rank_correlation=own.rank_correlation,
                    seed=seed,
                )
            else:
                r = dvl.semivalue(
                    run,
                    data,
                    method="tmc",
                    samples=theirs.samples,
                    rank_rtol=theirs.rank_rtol,
                    burn_in=theirs.burn_in,
                    truncation=theirs.truncation,
                    seed=seed,
                )
            runs.append(
                {
                    "estimator": estimator,
                    "seed": seed,
                    "values": r.values,
                    "stderr": r.stderr,
                    "permutations": r.permutations,
                    "coalitions": r.evaluations,
                    "converged": r.converged,
                    "s": round(time.perf_counter() - t0, 3),
                }
            )
    return {
        "game": CHECK_GAME.name,
        "retrains": coalitions.retrains,
        "exact_s": round(exact_s, 1),
        "exact": exact,
        "runs": runs,
    }


# ------------------------------------------------------------------------------------------ figures


def two_means_low(values: dict[str, float]) -> set[str]:
    """The owners of the lower group when `values` are split in two by 1-D 2-means (the split of the
    sorted values with the least within-group sum of squares); none when all are equal."""
    items = sorted(values.items(), key=lambda kv: (kv[1], kv[0]))
    v = np.array([x for _, x in items], dtype=float)
    if len(v) < 2 or np.ptp(v) == 0:
        return set()
    cost = [
        ((v[:i] - v[:i].mean()) ** 2).sum() + ((v[i:] - v[i:].mean()) ** 2).sum()
        for i in range(1, len(v))
    ]
    cut = 1 + int(np.argmin(cost))
    return {k for k, _ in items[:cut]}


def detection_f1(values: dict[str, float], noisy: Sequence[str]) -> float | None:
    """F1 of the 2-means lower group as a detector of the `noisy` owners among those valued (None when
    no valued owner is noisy)."""
    truth = set(noisy) & set(values)
    if not truth:
        return None
    flagged = two_means_low(values)
    hits = len(flagged & truth)
    return 2 * hits / (len(flagged) + len(truth))


def random_f1(values: dict[str, float], noisy: Sequence[str]) -> float | None:
    """The expected F1 of flagging half the valued owners at random: precision the noisy share,
    recall 1/2."""
    p = len(set(noisy) & set(values)) / len(values) if values else 0
    return p / (p + 0.5) if p else None


def _mean(xs) -> float | None:
    kept = [x for x in xs if x is not None]
    return float(np.mean(kept)) if kept else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summarise(d: dict) -> dict:
    """Per strategy, the means over seeds of the protocol's figures and of the detection F1."""
    values = {(r["strategy"], r["seed"]): r["values"] for r in d["values"]}
    rows = []
    for strategy in d["settings"]["strategies"]:
        runs = [r for r in d["runs"] if r["strategy"] == strategy]
        f1 = [detection_f1(values[(strategy, r["seed"])], d["noisy"]) for r in runs]
        rows.append(
            {
                "strategy": strategy,
                "budget": runs[0]["budget"],
                **{
                    k: _mean([r[k] for r in runs])
                    for k in (
                        "regret_at_k",
                        "random_regret_at_k",
                        "harm_precision",
                        "harm_recall",
                        "gain_fraction",
                        "kendall_tau_b",
                        "retrains",
                        "valuation_s",
                    )
                },
                "f1": _mean(f1),
                "random_f1": _mean(
                    [random_f1(values[(strategy, r["seed"])], d["noisy"]) for r in runs]
                ),
            }
        )
    return {
        "scenario": d["scenario"],
        "seeds": len(d["settings"]["seeds"]),
        "noisy": d["noisy"],
        "misleading": d["settings"]["misleading"],
        "rows": rows,
    }


def check_figures(d: dict) -> dict:
    """The shapley check's figures: per estimator the mean over runs of the largest error against
    exact Shapley, in points and in standard errors, the share of owner estimates within 2 se, the
    coalitions and orders used; and between the two estimators' means over runs, the largest absolute
    difference against the standard error of that difference."""
    exact = d["exact"]
    players = list(exact)
    out = {}
    means = {}
    for est in ("own", "pydvl"):
        runs = [r for r in d["runs"] if r["estimator"] == est]
        err = np.array([[r["values"][p] - exact[p] for p in players] for r in runs])
        se = np.array([[r["stderr"][p] or np.nan for p in players] for r in runs], dtype=float)
        within = np.abs(err) <= 2 * np.nan_to_num(se, nan=0.0)
        vals = np.array([[r["values"][p] for p in players] for r in runs])
        means[est] = (vals.mean(axis=0), vals.std(axis=0, ddof=1) / np.sqrt(len(runs)))
        out[est] = {
            "runs": len(runs),
            "max_abs_error": float(np.abs(err).max(axis=1).mean()),
            "mean_abs_error": float(np.abs(err).mean()),
            "mean_se": float(np.nanmean(se)),
            "within_2se": float(within.mean()),
            "coalitions": float(np.median([r["coalitions"] for r in runs])),
            "permutations": float(np.median([r["permutations"] for r in runs])),
            "converged": sum(r["converged"] for r in runs),
            "s": float(np.mean([r["s"] for r in runs])),
        }
    diff = np.abs(means["own"][0] - means["pydvl"][0])
    se_diff = np.sqrt(means["own"][1] ** 2 + means["pydvl"][1] ** 2)
    worst = int(np.argmax(diff / se_diff))
    out["difference"] = {
        "max_abs": float(diff.max()),
        "owner": players[int(np.argmax(diff))],
        "se_at_max": float(se_diff[int(np.argmax(diff))]),
        "max_z": float((diff / se_diff)[worst]),
        "owner_max_z": players[worst],
    }
    return out


def section(entries: list[dict], reading: Reading) -> str:
    check = next((e for e in entries if e["key"] == "shapley-check"), None)
    rank = {name: i for i, name in enumerate(SCENARIOS)}
    scenarios = sorted(
        (e for e in entries if e["key"] != "shapley-check"),
        key=lambda e: (rank.get(e["data"]["scenario"], len(rank)), e["key"]),
    )
    rows = []
    for e in scenarios:
        f = summarise(e["data"])
        for r in f["rows"]:
            rows.append(
                [
                    f["scenario"],
                    f["seeds"],
                    r["strategy"],
                    "all" if r["budget"] is None else r["budget"],
                    _fmt(r["regret_at_k"], ".3f"),
                    _fmt(r["random_regret_at_k"], ".3f"),
                    _fmt(r["harm_precision"], ".2f"),
                    _fmt(r["harm_recall"], ".2f"),
                    _fmt(r["gain_fraction"], ".0%"),
                    _fmt(r["kendall_tau_b"], ".2f"),
                    _fmt(r["retrains"], ".0f"),
                    _fmt(r["valuation_s"], ".1f"),
                    _fmt(r["f1"], ".2f") if f["noisy"] else "-",
                    _fmt(r["random_f1"], ".2f") if f["noisy"] else "-",
                ]
            )
    parts = [
        TITLE,
        "Issue 20 item 4. `data-oob` and `banzhaf` (strategies/data-oob.toml, banzhaf.toml: every "
        "owner shares all its data, as for `loo` and `shapley`) are pyDVL 0.10's DataOOBValuation and "
        "MSRBanzhafValuation on this project's utility (mycroft_fl/trainer/dvl.py): Data-OOB's bagged "
        "models are the trainer's model fitted on its training set plus a bootstrap sample of the "
        "owners' pooled points (32 bags), an owner's value the sum of its points' out-of-bag accuracy; "
        "MSR-Banzhaf samples coalitions of owners (each owner one group of a GroupedDataset, at most "
        "300, or until pyDVL's RankCorrelation settles) and retrains each distinct one once.",
        "Columns are means over seeds, from `compare`'s runs: regret@3 (and random's expected "
        "regret), harm precision and recall against the misleading owners, share of full "
        "information's gain, Kendall tau-b against full information's ranking, retrains and "
        "valuation seconds; `noisy F1`: the owners with flipped labels (label_noise > 0) found by "
        "splitting the owner values in two (1-D 2-means, the lower group flagged), `random F1` the "
        "same for a random half (precision the noisy share, recall 1/2). Harm precision and recall "
        "come from the trainer's screening, which runs whatever the valuer.",
        table(
            (
                "scenario",
                "seeds",
                "strategy",
                "budget",
                "regret@3",
                "random's regret@3",
                "harm P",
                "harm R",
                "gain share",
                "Kendall tau-b",
                "retrains",
                "valuation s",
                "noisy F1",
                "random F1",
            ),
            "lrlr" + "r" * 10,
            rows,
        ),
    ]
    if check:
        c = check_figures(check["data"])
        d = c["difference"]
        parts += [
            "**pyDVL's Shapley against this project's** (part `shapley-check`): "
            f"`{check['data']['game']}`'s ten owners, all {check['data']['retrains']} coalitions "
            f"trained once ({check['data']['exact_s']:.0f} s) for exact Shapley; each estimator ran "
            f"{c['own']['runs']} times on the memoised game. Between the two estimators' means over "
            f"runs the largest difference is {d['max_abs']:.4f} ({d['owner']}, standard error of the "
            f"difference {d['se_at_max']:.4f}); the largest in standard errors is {d['max_z']:.1f} "
            f"({d['owner_max_z']}).",
            table(
                (
                    "estimator",
                    "runs",
                    "mean max |error|",
                    "mean |error|",
                    "mean se",
                    "within 2 se",
                    "orders (median)",
                    "coalitions (median)",
                    "converged",
                    "s per run",
                ),
                "l" + "r" * 9,
                (
                    [
                        label,
                        c[k]["runs"],
                        f"{c[k]['max_abs_error']:.4f}",
                        f"{c[k]['mean_abs_error']:.4f}",
                        f"{c[k]['mean_se']:.4f}",
                        f"{c[k]['within_2se']:.0%}",
                        f"{c[k]['permutations']:.0f}",
                        f"{c[k]['coalitions']:.0f}",
                        c[k]["converged"],
                        f"{c[k]['s']:.2f}",
                    ]
                    for label, k in (("own (`shapley`)", "own"), ("pyDVL (`tmc-shapley`)", "pydvl"))
                ),
            ),
        ]
    parts += [reading.text, *provenances(sorted(entries, key=lambda e: e["key"]))]
    return paragraphs(*parts)
