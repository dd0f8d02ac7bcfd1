"""Private queries against raw ones: what they cost and whether owners select the same samples.

Per scenario (digits, fashion), `compare` runs `mycroft` and `mycroft-private` (the same strategy with
`private=True`: no raw hard sample leaves the trainer, only per hard class the summed last-layer gradient
and the hard samples' embeddings) at budget 32 on the same fitted trainers, with full information as the
reference. Beside compare's figures the driver keeps, per run, the query's size (its arrays, model
weights included), the trainer's seconds to build it, and every owner's selection for it
(`select_for_query`), so that a private selection can be set beside the raw one of the same seed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from benchmarks.drivers import Acquire, lean_runs, renamed
from benchmarks.md import Reading, ordered, paragraphs, provenances, table

TITLE = "## Private queries"
SEEDS = 5
SCENARIOS = ("digits", "fashion")
BUDGET = 32
PRIVATE = "mycroft-private"


def _record(trainer, owners, config, report, private: bool = False) -> dict:
    from mycroft_fl.owner.answer import select_for_query
    from mycroft_fl.trainer.acquisition import strategy_query

    if not config.budgeted:
        return {}
    t0 = time.perf_counter()
    query = strategy_query(trainer, config, private=private)
    seconds = time.perf_counter() - t0
    return {
        "query_kb": sum(np.asarray(a).nbytes for a in query.to_arrays().values()) / 1000,
        "query_s": seconds,
        "picks": {k: select_for_query(query, d).tolist() for k, d in owners.items()},
    }


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    names = ["digits"] if options.quick else options.scenarios
    for name in names:
        driver = Acquire({PRIVATE: {"private": True}}, record=_record)
        strategies = ["mycroft", renamed("mycroft", PRIVATE)]
        result = compare(load_scenario(name), strategies, [BUDGET], seeds, driver=driver)
        yield name, {**lean_runs(result.to_dict()), "records": driver.records_list()}


# ------------------------------------------------------------------------------------------ section


def _cell(values: list[float], fmt: str, scale: float = 1.0) -> str:
    v = np.array(values, dtype=float) * scale
    if len(v) > 1:
        return f"{np.nanmean(v):{fmt}} ± {np.nanstd(v, ddof=1):{fmt}}"
    return f"{v[0]:{fmt}}"


def rows(doc: dict) -> list[list[str]]:
    """Raw and private: rank agreement, combined hard accuracy, owners selecting the same samples,
    query size and time, over seeds."""
    out = []
    records = {(r["strategy"], r["seed"]): r for r in doc["records"]}
    for strategy in ("mycroft", PRIVATE):
        runs = sorted(
            (r for r in doc["runs"] if r["strategy"] == strategy), key=lambda r: r["seed"]
        )
        recs = [records[(strategy, r["seed"])] for r in runs]
        private = strategy == PRIVATE
        same = (
            ", ".join(
                f"{sum(r['picks'][o] == records[('mycroft', r['seed'])]['picks'][o] for o in r['picks'])}"
                f"/{len(r['picks'])}"
                for r in recs
            )
            if private
            else "(reference)"
        )
        out.append(
            [
                doc["scenario"],
                "private" if private else "raw",
                _cell([r["spearman"] for r in runs], ".2f"),
                _cell([r["kendall_tau_b"] for r in runs], ".2f"),
                _cell([r["combined_hard_accuracy"] for r in runs], ".1f", 100) + "%",
                same,
                _cell([r["query_kb"] for r in recs], ".0f"),
                _cell([r["query_s"] for r in recs], ".2f"),
            ]
        )
    return out


def section(entries: list[dict], reading: Reading) -> str:
    entries = ordered(entries, SCENARIOS)
    body = []
    for e in entries:
        body += e["data"]["rows"] if "rows" in e["data"] else rows(e["data"])
    seeds = sorted(
        {len(e["data"]["settings"]["seeds"]) for e in entries if "settings" in e["data"]}
    )
    return paragraphs(
        TITLE,
        "`python -m benchmarks run privacy` "
        + (f"({', '.join(map(str, seeds))} seeds, mean ± sd): " if seeds else "(mean ± sd): ")
        + f"strategy mycroft at budget {BUDGET}, raw and private queries from the same fitted trainer, "
        "through `compare` (the private run is `mycroft` with `private=True`). A private query carries "
        "no raw hard sample, only per hard class the summed last-layer gradient and the hard samples' "
        "embeddings (README, *Private queries*). Rank agreement is with the full-information ranking "
        "of the same seed; *same samples* counts, per seed, the owners whose private selection equals "
        "their raw one; query size is the arrays the query carries (model weights included).",
        table(
            (
                "scenario",
                "query",
                "Spearman vs full information",
                "Kendall tau-b",
                "combined hard acc",
                "owners selecting the same samples as raw",
                "query size (kB)",
                "trainer's query time (s)",
            ),
            "llrrrrrr",
            body,
        ),
        reading.text,
        *provenances(entries),
    )
