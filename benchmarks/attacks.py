"""Attacks: where each cheating owner ranks with and without the trainer's defences (RELIABILITY.md's
"## Attacks"; `render` writes BENCHMARKS.md only, `run attacks` prints this section).

`simulations/hostile.toml` (digits; four honest owners, one cheater per attack and six honest owners
with some labels wrong, every owner scripted by its `behaviour`), strategy mycroft at budget 16:
`compare` runs it as shipped (the trainer's defences on) and with `TrainerConfig(defences=False)` (only
a reply's form is checked: no commitment or audit check, no out-of-domain or padding rejection, no
replay screening, no harm flag, no copy sharing), so each seed's trainer values the same owners both
ways; the driver keeps every owner's status, rank, harm flag, utility, value and credit. `--quick`: 2
seeds.
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
    "clean-audit": "clean-audit",
    "switch": "switch",
    "twin": "twin",
    "pad-near": "pad-near",
}
DEFENCE = {
    "replayer": "rejected: its picks do not open against the data it committed to before it saw "
    "the query (were they its own, dropped as replays, `replayed`)",
    "flipper": "flagged `harmful` (its audit contradicts the trainer's labels; its subset lowers "
    "the other digits), ranked below every owner not flagged",
    "out-of-domain": "rejected: values outside the trainer's reference range",
    "padder": "rejected: more than 3/4 of the reply copies of one sample",
    "clean-audit": "rejected: it must open the audit rows the trainer drew from its commitment",
    "switch": "rejected: its picks do not open against its commitment",
    "twin": "shares the worth of the samples both sent with the specialist (`credit`); the "
    "combined model takes a distinct owner instead of the copy",
    "pad-near": "near-copies within its picks count once (`near_copies`): worth its few real 8s "
    "and 9s",
}
#: Honest owners with some labels wrong (not cheaters): (owner, share of labels wrong, which way).
NOISY = tuple((f"{way}-{pct}", pct, way) for way in ("away", "toward") for pct in (20, 35, 50))
NOISE_WAY = {
    "away": "8s and 9s labelled as other digits",
    "toward": "other digits labelled 8 or 9",
}


def _record(trainer, owners, config, report) -> dict:
    return {
        "owners": {
            o.id: {
                "rank": o.rank,
                "status": o.status,
                "harmful": bool(o.harmful),
                "reason": o.reason,
                "utility": o.utility,
                "value": o.value,
                "credit": o.credit,
                "shared": o.shared,
                "near_copies": o.near_copies,
            }
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
    n_owners = len(runs["with"][0]["owners"])

    def outcome(o: dict, honest: list[int]) -> str:
        if o["rank"] is None:
            return o["status"]
        above = sum(o["rank"] < r for r in honest)
        return (
            f"{o['rank']}"
            + (f" (above {above} honest)" if above else "")
            + (" harmful" if o["harmful"] else "")
        )

    def per_seed(side: str, owner: str) -> str:
        return ", ".join(
            outcome(r["owners"][owner], [r["owners"][h]["rank"] for h in HONEST])
            for r in runs[side]
        )

    rows = [
        [
            f"`{attack}` ({owner})",
            per_seed("without", owner),
            per_seed("with", owner),
            DEFENCE[owner],
        ]
        for owner, attack in CHEATERS.items()
    ]
    noisy_rows = [
        [
            f"`{owner}`",
            f"{pct}%: {NOISE_WAY[way]}",
            per_seed("without", owner),
            per_seed("with", owner),
        ]
        for owner, pct, way in NOISY
    ]

    def kept(side: str) -> int:  # the honest owners nobody copied keep their order
        ranks = [[r["owners"][h]["rank"] for h in HONEST[1:]] for r in runs[side]]
        return sum(rs == sorted(rs) for rs in ranks)

    def above_sparse(side: str) -> int:  # the specialist, whose worth the twin shares
        return sum(
            r["owners"]["specialist"]["rank"] < r["owners"]["sparse"]["rank"] for r in runs[side]
        )

    def entered(side: str) -> int:  # a cheater's subset combined (the twin alone stands for the
        # specialist's data: what it must not do is enter beside it)
        return sum(
            any(c in r["combined"]["owners"] for c in CHEATERS if c != "twin") for r in runs[side]
        )

    def twins(side: str) -> int:
        return sum({"specialist", "twin"} <= set(r["combined"]["owners"]) for r in runs[side])

    def paid(side: str) -> str:  # specialist + twin valued, against the specialist's utility alone
        together = [
            r["owners"]["specialist"]["value"] + r["owners"]["twin"]["value"] for r in runs[side]
        ]
        alone = [r["owners"]["specialist"]["utility"] for r in runs[side]]
        return f"{np.mean(together):+.3f} against {np.mean(alone):+.3f}"

    def pad_near(side: str) -> int:  # ranked no higher than the sparse owner, who holds as many
        return sum(
            r["owners"]["pad-near"]["rank"] is None
            or r["owners"]["pad-near"]["rank"] >= r["owners"]["sparse"]["rank"]
            for r in runs[side]
        )

    def mean(side: str, owner: str, key: str) -> float:
        return float(np.mean([r["owners"][owner][key] or 0.0 for r in runs[side]]))

    def hard(side: str) -> float:
        return 100 * np.mean([r["combined"]["hard_accuracy"] for r in runs[side]])

    return paragraphs(
        TITLE,
        f"`python -m benchmarks run attacks --seeds {seeds}`: `simulations/hostile.toml` (digits; four "
        "honest owners, `specialist` > `generalist` > `sparse` > `unrelated` in usefulness, one "
        "cheater per attack, and six honest owners with some labels wrong), strategy mycroft at "
        f"budget {entry['data']['budget']}, through `compare`. Each seed's trainer values the owners "
        "with its defences and again without them (`TrainerConfig(defences=False)`: only a reply's "
        "form is checked: no commitment, opening or audit check, no out-of-domain or padding "
        f"rejection, no replay screening, no harm flag, no copy sharing). A rank is 1 = best of "
        f"{n_owners}; `above k honest` counts the four honest owners it outranks.",
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
        "The honest owners nobody copied kept their order (generalist, sparse, unrelated, ties "
        f"allowed) in {kept('with')}/{seeds} seeds with the defences and {kept('without')}/{seeds} "
        "without; the specialist, whose worth its twin shares, ranked above sparse in "
        f"{above_sparse('with')}/{seeds} and {above_sparse('without')}/{seeds}. A cheater's subset "
        f"(the twin's aside) entered the combined model in {entered('with')}/{seeds} seeds with the "
        f"defences and {entered('without')}/{seeds} without; the twin entered it beside the "
        f"specialist in {twins('with')}/{seeds} seeds with and {twins('without')}/{seeds} without. "
        f"The specialist and its twin together were valued {paid('with')} (the specialist's "
        f"utility alone, mean over seeds) with the defences, {paid('without')} without. `pad-near` "
        f"shared {mean('with', 'pad-near', 'shared'):.0f} samples on average with the defences "
        f"({mean('without', 'pad-near', 'shared'):.0f} without), as many as `sparse` "
        f"({mean('with', 'sparse', 'shared'):.0f}), each holding four real 8s and 9s of their own; "
        f"its mean value {mean('with', 'pad-near', 'value'):+.3f} against sparse's "
        f"{mean('with', 'sparse', 'value'):+.3f} with the defences "
        f"({mean('without', 'pad-near', 'value'):+.3f} against "
        f"{mean('without', 'sparse', 'value'):+.3f} without), and it ranked no higher than `sparse` "
        f"in {pad_near('with')}/{seeds} seeds with the defences and {pad_near('without')}/{seeds} "
        "without. The combined model's held-out hard accuracy: "
        f"{hard('with'):.1f}% with, {hard('without'):.1f}% without.",
        "Owners whose labels are partly wrong are not cheaters: they are worth what their data "
        "does, and flagged `harmful` only when the audit finds most of the labels it looks at "
        "wrong or their subset damages the held-out data.",
        table(
            (
                "owner",
                "labels wrong",
                "rank without defences, per seed",
                "with the defences, per seed",
            ),
            "llll",
            noisy_rows,
        ),
        reading.text,
        provenance(entry),
    )
