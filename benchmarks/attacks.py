"""Attacks: where each cheating owner ranks with and without the trainer's defences (RELIABILITY.md's
"## Attacks"; `render` writes BENCHMARKS.md only, `run attacks` prints this section).

`simulations/hostile.toml` (digits; four honest owners and one cheater per attack, every owner scripted
by its `behaviour`), strategy mycroft at budget 16: `compare` runs it as shipped (the trainer's defences
on) and with `TrainerConfig(defences=False)` (only a reply's form is checked: no out-of-domain or
padding rejection, no replay screening, no harm flag), so each seed's trainer values the same owners
both ways; the driver keeps every owner's status, rank and harm flag. `--quick`: 2 seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from benchmarks.drivers import Acquire
from benchmarks.md import Reading, paragraphs, provenance, table

TITLE = "## Attacks"
DOCUMENT = "RELIABILITY.md"
SEEDS = 5
HONEST = ("specialist", "generalist", "sparse", "unrelated")
CHEATERS = {
    "replayer": "replay",
    "flipper": "flip-to-hard",
    "out-of-domain": "out-of-domain",
    "padder": "pad",
}
DEFENCE = {
    "replayer": "its samples dropped as replays of the hard query samples (`replayed`)",
    "flipper": "flagged `harmful` (implausible labels that lower the other digits), ranked last",
    "out-of-domain": "rejected: values outside the trainer's reference range",
    "padder": "rejected: more than 3/4 of the reply copies of one sample",
}


def _record(trainer, owners, config, report) -> dict:
    return {
        "owners": {
            o.id: {"rank": o.rank, "status": o.status, "harmful": bool(o.harmful)}
            for o in report.owners
        },
        "combined": {
            "owners": list(report.combined["owners"]),
            "hard_accuracy": report.combined["hard_accuracy"],
        },
    }


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    from mycroft_fl.evaluation.comparison import compare
    from mycroft_fl.scenarios.spec import load_scenario

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    shipped = load_scenario("hostile")
    runs = {}
    for defended in (True, False):
        trainer = dataclasses.replace(shipped.trainer, defences=defended)
        driver = Acquire(record=_record)
        compare(
            dataclasses.replace(shipped, trainer=trainer), ["mycroft"], [16], seeds, driver=driver
        )
        runs["with" if defended else "without"] = [
            r for r in driver.records_list() if r["strategy"] == "mycroft"
        ]
    yield "hostile", {"budget": 16, "runs": runs}


def section(entries: list[dict], reading: Reading) -> str:
    entry = entries[0]
    runs = entry["data"]["runs"]
    seeds = len(runs["with"])

    def outcome(o: dict, honest: list[int]) -> str:
        if o["rank"] is None:
            return o["status"]
        above = sum(o["rank"] < r for r in honest)
        return (
            f"{o['rank']}"
            + (f" (above {above} honest)" if above else "")
            + (" harmful" if o["harmful"] else "")
        )

    rows = []
    for owner, attack in CHEATERS.items():
        cells = [
            ", ".join(
                outcome(r["owners"][owner], [r["owners"][h]["rank"] for h in HONEST])
                for r in runs[side]
            )
            for side in ("without", "with")
        ]
        rows.append([f"`{attack}` ({owner})", *cells, DEFENCE[owner]])

    def kept(side: str) -> int:
        return sum(
            [r["owners"][h]["rank"] for h in HONEST]
            == sorted(r["owners"][h]["rank"] for h in HONEST)
            for r in runs[side]
        )

    def entered(side: str) -> int:
        return sum(any(c in r["combined"]["owners"] for c in CHEATERS) for r in runs[side])

    def hard(side: str) -> float:
        return 100 * np.mean([r["combined"]["hard_accuracy"] for r in runs[side]])

    return paragraphs(
        TITLE,
        f"`python -m benchmarks run attacks --seeds {seeds}`: `simulations/hostile.toml` (digits; four "
        "honest owners, `specialist` > `generalist` > `sparse` > `unrelated` in usefulness, and one "
        f"cheater per attack), strategy mycroft at budget {entry['data']['budget']}, through `compare`. "
        "Each seed's trainer values the owners with its defences and again without them "
        "(`TrainerConfig(defences=False)`: only a reply's form is checked). A cheater's rank is 1 = "
        "best of 8; `above k honest` counts the honest owners it outranks.",
        table(
            (
                "attack (owner)",
                "what it does to the ranking without defences, per seed",
                "with the defences, per seed",
                "defence that met it",
            ),
            "llll",
            rows,
        ),
        "The honest owners kept their order (specialist, generalist, sparse, unrelated, ties allowed) "
        f"in {kept('with')}/{seeds} seeds with the defences and {kept('without')}/{seeds} without. A "
        f"cheater's subset entered the combined model in {entered('with')}/{seeds} seeds with the "
        f"defences and {entered('without')}/{seeds} without; the combined model's held-out hard "
        f"accuracy: {hard('with'):.1f}% with, {hard('without'):.1f}% without.",
        reading.text,
        provenance(entry),
    )
