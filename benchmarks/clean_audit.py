"""The owner who would choose its own audit: where a `clean-audit` cheater ends up, over many seeds, on
the hostile scenario and on real data, with and without named hard classes.

The cheater holds every sample of the thin classes relabelled and as many other samples labelled as
the thin classes (`label_swap`), and answers the audit with rows of its own choosing whose labels the
query's model agrees with (`behaviour = "clean-audit"`). On `simulations/hostile.toml` it is shipped;
on diamonds it is added beside the shipped owners, holding the specialist's kind of data (a scenario
file written at run time from the shipped one). Each scenario also runs as
`Scenario.without_hard_classes()` (the trainer names none). Strategy mycroft at one budget,
in-process through the engine (`acquire`, on each seed's trainer as `compare` fits it): per seed,
the cheater's status, rank and flag, whether it is in the combined model, and how many honest owners
rank below it. `--quick`: 2 seeds, hostile.

A third scenario, `paid-for`, asks whether the audit reaches what the trainer pays for: hostile's
trainer and honest owners beside owners whose wrong labels sit in the classes their picks claim
(every 8 and 9 swapped out and as many others in; most of what it calls 8 wrong, its 9s right; 80%
of all labels wrong; 8s and 9s swapped with each other), all answering honestly: per owner, in how
many seeds it is flagged, in how many some of its picks are left out (`unbought`), combined, and
ranked above an honest owner.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.md import Reading, ordered, paragraphs, provenances, table

TITLE = "## The owner who would choose its own audit"
SEEDS = 10
SCENARIOS = ("hostile", "diamonds", "paid-for")
CHEATER = "clean-audit"
BUDGET = {"hostile": 16, "diamonds": 20, "paid-for": 16}
#: The owners each scenario's table follows.
CHEATERS = {
    "hostile": (CHEATER,),
    "diamonds": (CHEATER,),
    "paid-for": ("swapper", "into-8", "spread", "swap-89"),
}
#: Owners of each scenario that are honest and hold right labels (the cheater must rank below them
#: wherever they are ranked).
HONEST = {
    "hostile": ("specialist", "generalist", "sparse"),
    "paid-for": ("specialist", "generalist", "sparse"),
    "diamonds": ("specialist", "generalist", "low-clarity", "sparse"),
}
ROOT = Path(__file__).resolve().parent.parent
#: The cheater added to diamonds: the specialist's data, its Fair and Good cuts swapped.
DIAMONDS_CHEATER = """
[[owners]]
id = "clean-audit"
description = "the specialist's kind of data, its Fair and Good cuts swapped; opens audit rows it chooses"
size = 400
where = { clarity = ["SI1", "SI2", "I1"] }
shares = { 0 = 0.25, 1 = 0.25 }
label_swap = [0, 1]
behaviour = "clean-audit"
"""
#: Owners whose wrong labels sit where they are paid, honest in the protocol (added to hostile's
#: trainer and four honest owners).
PAID_FOR = """
[[owners]]
id = "swapper"
description = "every 8 and 9 relabelled, as many others labelled 8 or 9"
size = 80
shares = { 8 = 0.25, 9 = 0.25 }
label_swap = [8, 9]

[[owners]]
id = "into-8"
description = "half its other digits labelled 8: most of what it calls 8 is wrong, its 9s right"
size = 80
shares = { 8 = 0.1, 9 = 0.25 }
label_noise = 0.5
noise_from = [0, 1, 2, 3, 4, 5, 6, 7]
noise_to = [8]

[[owners]]
id = "spread"
description = "80% of all its labels wrong, to any other digit"
size = 80
shares = { 8 = 0.25, 9 = 0.25 }
label_noise = 0.8

[[owners]]
id = "swap-89"
description = "its 8s labelled 9 and its 9s labelled 8"
size = 80
shares = { 8 = 0.25, 9 = 0.25 }
label_noise = 1.0
noise_from = [8, 9]
noise_to = [8, 9]
"""


def scenario(name: str, directory: Path):
    """The scenario `name` with its cheaters: shipped in hostile, added to diamonds, and for
    `paid-for` hostile's trainer and first four (honest) owners with `PAID_FOR`'s."""
    from mycroft_fl.scenarios.spec import load_scenario

    if name == "hostile":
        return load_scenario("hostile")
    if name == "paid-for":
        blocks = (ROOT / "simulations" / "hostile.toml").read_text().split("[[owners]]")
        text = "[[owners]]".join(blocks[:5]).replace('name = "hostile"', 'name = "paid-for"')
        text += PAID_FOR
    else:
        text = (ROOT / "simulations" / f"{name}.toml").read_text() + DIAMONDS_CHEATER
    path = directory / f"{name}.toml"
    path.write_text(text)
    return load_scenario(path)


def _run(scenario, budget: int, seed: int) -> dict:
    """One seed: the engine in-process on the seed's trainer (as `compare` fits it), its outcome."""
    from mycroft_fl.trainer.in_process import acquire
    from mycroft_fl.trainer.strategy_config import resolve_strategy
    from mycroft_fl.trainer.trainer import Trainer

    trainer = Trainer(scenario.trainer_data(), scenario.trainer, seed=seed)
    report = acquire(
        trainer,
        scenario.owners_data(),
        resolve_strategy("mycroft", budget),
        scenario=scenario.name,
        behaviours={o.id: o.behaviour for o in scenario.owners},
    )
    return {
        "seed": seed,
        "owners": {
            o.id: {
                "rank": o.rank,
                "status": o.status,
                "harmful": bool(o.harmful),
                "unbought": o.unbought,
            }
            for o in report.owners
        },
        "combined": list(report.combined["owners"]),
    }


def measure(options) -> Iterator[tuple[str, dict]]:
    import torch

    torch.set_num_threads(1)
    seeds = 2 if options.quick else options.seeds
    names = ("hostile",) if options.quick else options.scenarios
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            shipped = scenario(name, Path(tmp))
            for variant in (shipped, shipped.without_hard_classes()):
                runs = [_run(variant, BUDGET[name], variant.seed + i) for i in range(seeds)]
                yield variant.name, {"scenario": name, "budget": BUDGET[name], "runs": runs}


def outcome(run: dict, honest: tuple[str, ...], cheater: str = CHEATER) -> dict:
    """One seed's verdict on a cheater: caught (rejected or flagged), picks left out, combined, and
    the honest owners (of those ranked) it ranks above."""
    me = run["owners"][cheater]
    above = [
        h
        for h in honest
        if me["rank"] is not None
        and run["owners"][h]["rank"] is not None
        and me["rank"] < run["owners"][h]["rank"]
    ]
    return {
        "caught": me["status"] != "ok" or me["harmful"],
        "status": me["status"],
        "unbought": bool(me.get("unbought")),
        "combined": cheater in run["combined"],
        "above": above,
    }


def section(entries: list[dict], reading: Reading) -> str:
    keys = [k for n in SCENARIOS for k in (n, f"{n}-all-classes")]
    entries = ordered(entries, keys)
    rows = []
    for e in entries:
        data = e["data"]
        for cheater in CHEATERS[data["scenario"]]:
            found = [outcome(r, HONEST[data["scenario"]], cheater) for r in data["runs"]]
            n = len(found)
            rows.append(
                [
                    e["key"],
                    cheater,
                    data["budget"],
                    f"{sum(f['caught'] for f in found)}/{n}",
                    ", ".join(sorted({f["status"] for f in found})),
                    f"{sum(f['unbought'] for f in found)}/{n}",
                    f"{sum(f['combined'] for f in found)}/{n}",
                    f"{sum(bool(f['above']) for f in found)}/{n}",
                ]
            )
    return paragraphs(
        TITLE,
        "`python -m benchmarks run clean_audit`. A cheater with every sample of the thin classes "
        "relabelled and as many others labelled as them (`label_swap`), which answers the audit with "
        'rows it chooses for agreeing with the query\'s model (`behaviour = "clean-audit"`). Owners '
        "commit to their data before they learn the audit; the trainer draws the rows from its key and "
        "the commitment, in the classes of the owner's picks. `paid-for`: owners honest in the "
        "protocol whose wrong labels sit in the classes they are paid for (see the module). Per "
        "scenario (`-all-classes`: the trainer names no hard classes), strategy mycroft: in how many "
        "seeds each is caught (rejected or flagged harmful), its status, in how many some of its "
        "picks are left out (`unbought`: their class's audit rows mostly wrong), in how many it "
        "enters the combined model, and in how many it ranks above an honest owner with right "
        "labels.",
        table(
            (
                "scenario",
                "owner",
                "budget",
                "caught",
                "status",
                "picks left out",
                "combined",
                "above an honest owner",
            ),
            "llrrlrrr",
            rows,
        ),
        reading.text,
        *provenances(entries),
    )
