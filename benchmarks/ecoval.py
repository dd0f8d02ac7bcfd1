"""EcoVal (owners valued by the clusters of their data) against Mycroft alone, both on Mycroft's subsets.

Per scenario, `compare` runs `mycroft` (each owner's subset retrained alone) and `ecoval` (the same
subsets, plus each owner's cluster histogram) at 5% of an owner's data (the evidence benchmark's
budgets), on the same fitted trainers with full information as the reference. Figures from compare's
runs: precision@3, NDCG@3 and Kendall tau-b of the ranking against full information's, gain share,
retrains, valuation seconds, samples received and histogram entries. Each scenario is one part; run
them apart (`--scenarios digits --seeds 10`, `--scenarios spurious --seeds 3`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from benchmarks.drivers import lean_runs
from benchmarks.evidence import five_percent_budget
from benchmarks.md import Reading, ordered, paragraphs, provenances, table

TITLE = "## EcoVal: owners valued by the clusters of their data"
SEEDS = 3
SCENARIOS = ("digits", "spurious", "fashion")
STRATEGIES = ("mycroft", "ecoval")
RANKING = ("precision_at_k", "ndcg_at_k", "kendall_tau_b")
MAX_EXTRA_EXPOSURE = 0.05  # the target: at most 5% more exposure than Mycroft alone


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    for name in ["digits"] if options.quick else options.scenarios:
        scenario = load_scenario(name)
        result = compare(scenario, list(STRATEGIES), [five_percent_budget(name)], seeds)
        sample_values = int(np.prod(scenario.trainer_data().train.sample_shape)) + 1
        yield name, {**lean_runs(result.to_dict()), "sample_values": sample_values}


# ------------------------------------------------------------------------------------------ section


def _by(doc: dict, strategy: str) -> list[dict]:
    return sorted((r for r in doc["runs"] if r["strategy"] == strategy), key=lambda r: r["seed"])


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summarise(d: dict) -> dict:
    """The figures the section shows of one scenario's runs: per strategy the means of the ranking
    figures, gain share, cost and exposure (ecoval's with its wins and extra exposure over Mycroft's),
    and every owner's mean rank under full information, Mycroft and ecoval."""
    mycroft, ecoval, refs = _by(d, "mycroft"), _by(d, "ecoval"), _by(d, "full-information")

    def exposed(run: dict) -> float:  # values revealed: a sample is its features and label
        return run["exposed_total"] * d["sample_values"] + run["revealed_total"]

    taus = [(a["kendall_tau_b"], m["kendall_tau_b"]) for a, m in zip(ecoval, mycroft)]
    rows = []
    for strategy, runs in (("mycroft", mycroft), ("ecoval", ecoval)):
        row = {
            "strategy": strategy,
            **{k: _mean([r[k] for r in runs]) for k in RANKING},
            "gain_fraction": _mean([r["gain_fraction"] for r in runs]),
            "retrains": _mean([r["retrains"] for r in runs]),
            "valuation_s": _mean([r["valuation_s"] for r in runs]),
            "exposed_total": _mean([r["exposed_total"] for r in runs]),
            "revealed_total": _mean([r["revealed_total"] for r in runs]),
        }
        if strategy == "ecoval":
            row["wins"] = [
                sum(a > m for a, m in taus),
                sum(a == m for a, m in taus),
                sum(a < m for a, m in taus),
            ]
            row["extra_values"] = (
                _mean([exposed(r) for r in runs]) / _mean([exposed(r) for r in mycroft]) - 1
            )
            row["extra_items"] = (
                _mean([r["exposed_total"] + r["revealed_total"] for r in runs])
                / _mean([r["exposed_total"] for r in mycroft])
                - 1
            )
        rows.append(row)
    owners = sorted(refs[0]["owners"])
    ranks = {
        label: {o: _mean([r["owners"][o]["rank"] for r in runs]) for o in owners}
        for label, runs in (("full information", refs), ("mycroft", mycroft), ("ecoval", ecoval))
    }
    return {
        "scenario": d["scenario"],
        "budget": d["settings"]["budgets"][0],
        "seeds": len(d["settings"]["seeds"]),
        "rows": rows,
        "ranks": ranks,
    }


def section(entries: list[dict], reading: Reading) -> str:
    entries = ordered(entries, SCENARIOS)
    rows, verdicts, owners_tables = [], [], []
    for e in entries:
        f = e["data"]["summary"] if "summary" in e["data"] else summarise(e["data"])
        for r in f["rows"]:
            ecoval = r["strategy"] == "ecoval"
            rows.append(
                [
                    f["scenario"],
                    f["budget"],
                    f["seeds"],
                    r["strategy"],
                    *(_fmt(r[k], ".2f") for k in RANKING),
                    " / ".join(map(str, r["wins"])) if ecoval else "",
                    _fmt(r["gain_fraction"], ".0%"),
                    _fmt(r["retrains"], ".1f"),
                    _fmt(r["valuation_s"], ".1f"),
                    _fmt(r["exposed_total"], ".0f"),
                    _fmt(r["revealed_total"], ".0f"),
                    _fmt(r.get("extra_values"), "+.1%"),
                    _fmt(r.get("extra_items"), "+.1%"),
                ]
            )
        mine, theirs = (next(r for r in f["rows"] if r["strategy"] == s) for s in STRATEGIES)
        closer = theirs["kendall_tau_b"] > mine["kendall_tau_b"] and all(
            theirs[k] >= mine[k] for k in RANKING
        )
        extra = theirs["extra_values"]
        verdicts.append(
            f"- {f['scenario']}: closer to full information (higher Kendall tau-b, precision@3 and "
            f"NDCG@3 not lower): {'met' if closer else 'MISSED'}; at most 5% more exposure (values): "
            f"{'met' if extra <= MAX_EXTRA_EXPOSURE else 'MISSED'} ({extra:+.1%})."
        )
        owners = list(f["ranks"]["full information"])
        owners_tables.append(
            table(
                (f["scenario"], *(f"`{o}`" for o in owners)),
                "l" * (len(owners) + 1),
                (
                    [label, *(_fmt(ranks[o], ".1f") for o in owners)]
                    for label, ranks in f["ranks"].items()
                ),
            )
        )
    return paragraphs(
        TITLE,
        "Issue 11 item 2. `ecoval` (strategies/ecoval.toml: Mycroft's subsets, valuer `ecoval` with 4 "
        "clusters, reach 2.0) against `mycroft` (the same subsets, each retrained alone), both against "
        "full information's ranking of the same seed, at 5% of an owner's data, through `compare`. The "
        "query carries k-means centres of the trainer model's penultimate features (its training "
        "samples of the hard classes and its hard query samples); each owner reports per hard class how "
        "many of its samples fall in each cluster or beyond them (a far cell); the trainer retrains "
        "once per cell on the samples it received there, pooled over the owners not judged harmful, "
        "and values an owner as its subset's utility times the worth it holds over the worth it sent.",
        "Figures are means over seeds; `wins` counts the seeds where ecoval's Kendall tau-b beats / "
        "ties / trails Mycroft's. Exposure: samples that left the owners (picks and the 32-sample label "
        "audit) and histogram entries (counts); `extra` is the histogram's share on top of Mycroft's "
        "exposure, in values revealed (a sample is its features and label, an entry one number) and, "
        "stricter, in items (an entry counted as a sample).",
        table(
            (
                "scenario",
                "budget",
                "seeds",
                "strategy",
                "precision@3",
                "NDCG@3",
                "Kendall tau-b",
                "wins",
                "gain share",
                "retrains",
                "valuation s",
                "samples",
                "histogram entries",
                "extra (values)",
                "extra (items)",
            ),
            "l" * 15,
            rows,
        ),
        "Targets (issue 11: closer to full information on every image scenario, <= 5% more exposure):",
        verdicts,
        reading.text,
        "Per owner (mean rank over seeds; 1 = most useful):",
        *owners_tables,
        *provenances(entries),
    )
