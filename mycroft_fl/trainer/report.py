"""The run's report: report.json (the public contract), report.md, and a ranking plot."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mycroft_fl.core.errors import InputError
from mycroft_fl.owner.selectors import SELECTORS, Selector
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.strategy_config import StrategyConfig
from mycroft_fl.trainer.uncertainty import overlapping
from mycroft_fl.trainer.valuers import VALUERS, Valuer

if TYPE_CHECKING:
    from pydvl.valuation.result import ValuationResult as DvlValuationResult

#: The version of report.json's structure (`report.schema.json`); it changes whenever a field is
#: added, renamed or removed (docs/reference/report-json.md keeps the history).
SCHEMA_VERSION = 2
#: The versions this mycroft-fl reads: version 1 lacks only version 2's optional `settle` fields.
READABLE_VERSIONS = (1, 2)


@dataclass
class Report:
    """What a run found: the trainer's control, every owner's outcome and rank, the combined model
    (its figures, and its weights in `weights`: load them with `core.models.set_weights` into the
    trainer's model; `fit_combined` gives them, training the model when valuing it did not keep
    it), what valuing cost, how long it took, what went wrong on the way (`warnings`), how the
    audit drew its rows (`audit`: the key and the rows per owner; with each owner's commitment the
    draw can be replayed), which owners answered uninvited and were left out (`ignored`), and what
    the (first round's) query revealed of the trainer's data (`disclosure`, `Query.disclosure`).
    `to_dict()` is report.json, whose structure `report_schema()` describes; `Report.load` reads
    one back."""

    scenario: str
    strategy: StrategyConfig
    seed: int
    trainer: dict
    owners: Sequence[OwnerResult]
    combined: dict
    valuation: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    private: bool = False
    rounds: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    audit: dict = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    disclosure: dict = field(default_factory=dict)
    fit_combined: Callable[[], dict[str, np.ndarray] | None] | None = field(
        default=None, repr=False, compare=False
    )

    @cached_property
    def weights(self) -> dict[str, np.ndarray] | None:
        """The combined model's weights (None when the run did not say how to get them)."""
        return None if self.fit_combined is None else self.fit_combined()

    @property
    def by_value(self) -> bool:
        """Whether some owner's value, by which owners are ranked, is not its utility (a valuer
        of coalitions, or samples shared with other owners)."""
        return any(o.status == "ok" and o.value != o.utility for o in self.owners)

    @classmethod
    def load(cls, path: str | Path) -> Report:
        """Read a report.json back into a Report (the inverse of `write`'s report.json).

        Parameters
        ----------
        path : str or Path
            A report.json, or the directory `write` wrote it into.

        Returns
        -------
        Report
            The report as it was written: `to_dict()` gives the file's document back. What
            report.json does not carry stays empty: the owners' subsets, audit samples and
            indices, and `weights` (None). The strategy has the named selector and valuer with
            their default parameters (report.json does not record parameters).

        Raises
        ------
        InputError
            One line naming the file and what is wrong: unreadable, not JSON, or not a report of
            this schema version (the first field that breaks `report_schema()`).
        """
        path = Path(path)
        if path.is_dir():
            path = path / "report.json"
        try:
            doc = json.loads(path.read_text())
        except OSError as exc:
            raise InputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a JSON document ({exc})") from None
        try:
            return cls.from_dict(doc)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, doc: Any) -> Report:
        """A Report from report.json's document (as `to_dict()` gives it); a document that breaks
        `report_schema()` or whose totals do not add up is an InputError saying where."""
        problem = schema_problem(doc)
        if problem:
            raise InputError(problem)
        report = cls(
            scenario=doc["scenario"],
            strategy=_recorded_strategy(doc),
            seed=doc["seed"],
            trainer=doc["trainer"],
            owners=[OwnerResult.from_dict(o) for o in doc["owners"]],
            combined=doc["combined"],
            valuation=doc["valuation"],
            timings={k: math.nan if v is None else v for k, v in doc["timings"].items()},
            private=doc["private"],
            rounds=doc.get("rounds", []),
            warnings=doc.get("warnings", []),
            audit=doc.get("audit", {}),
            ignored=doc.get("ignored", []),
            disclosure=doc.get("disclosure", {}),
        )
        exposure = report.to_dict()["exposure"]
        if exposure != doc["exposure"]:
            wrong = next(k for k in exposure if exposure[k] != doc["exposure"][k])
            raise InputError(
                f"exposure.{wrong} is {doc['exposure'][wrong]} but its owners add up to "
                f"{exposure[wrong]}"
            )
        return report

    def to_valuation_result(self) -> DvlValuationResult:
        """The valued owners' values as a pyDVL `ValuationResult` (pyDVL must be installed).

        Returns
        -------
        pydvl.valuation.result.ValuationResult
            One entry per valued owner (status ok), in rank order: `data_names` the owner ids,
            `values` their `value`, `variances` the square of `value_se` (0 when the valuer does not
            sample), `algorithm` "mycroft-fl:" and the valuer's name, `status` Converged when the
            valuation converged, else Pending. Rejected and failed owners have no value and are left
            out.
        """
        try:
            from pydvl.utils.status import Status
            from pydvl.valuation.result import ValuationResult
        except ImportError as exc:
            raise InputError(
                f"to_valuation_result needs pyDVL ({exc.name} is missing): pip install 'pydvl>=0.10'"
            ) from None
        valued = [d for d in self.to_dict()["owners"] if d["status"] == "ok"]
        return ValuationResult(
            values=np.array([np.nan if d["value"] is None else d["value"] for d in valued], float),
            variances=np.array([d.get("value_se", 0.0) ** 2 for d in valued], dtype=float),
            indices=np.arange(len(valued)),
            data_names=np.array([d["id"] for d in valued], dtype=object),
            algorithm=f"mycroft-fl:{self.strategy.valuer.name}",
            status=Status.Converged if self.valuation.get("converged", True) else Status.Pending,
        )

    def to_dict(self) -> dict:
        """report.json as a dict, exactly as the file reads back (keys are strings, as in JSON)."""
        s = self.strategy
        document = clean_json(
            {
                "schema_version": SCHEMA_VERSION,
                "scenario": self.scenario,
                "strategy": s.name,
                "selector": s.selector.name,
                "valuer": s.valuer.name,
                "value_meaning": s.valuer.meaning,
                "budget": s.budget,
                **({} if s.settle is None else {"settle": s.settle}),
                "seed": self.seed,
                "private": self.private,
                "trainer": self.trainer,
                "owners": sorted(
                    (o.to_dict() for o in self.owners),
                    key=lambda d: (d["rank"] is None, d["rank"] or 0, d["id"]),
                ),
                "combined": self.combined,
                "exposure": {
                    "total_received": sum(o.received for o in self.owners),
                    "total_shared": sum(o.shared for o in self.owners),
                    "total_replayed": sum(o.replayed for o in self.owners),
                    "owners_sharing": sum(1 for o in self.owners if o.received),
                    "total_revealed": sum(o.revealed for o in self.owners),
                },
                "valuation": {
                    k: round(v, 3) if isinstance(v, float) else v for k, v in self.valuation.items()
                },
                "timings": {k: round(v, 3) for k, v in self.timings.items()},
                **({"rounds": self.rounds} if self.rounds else {}),
                **({"warnings": list(self.warnings)} if self.warnings else {}),
                **({"audit": dict(self.audit)} if self.audit else {}),
                **({"disclosure": self.disclosure} if self.disclosure else {}),
                **({"ignored": list(self.ignored)} if self.ignored else {}),
            }
        )
        return json.loads(json.dumps(document))  # e.g. disclosure's classes become "8", "9"

    def rounds_lines(self) -> list[str]:
        """One line per round of a multi-round run: what was asked and sent, the combined model."""
        lines = []
        for r in self.rounds:
            asked = ", ".join(f"{o} {e['asked']}" for o, e in r["owners"].items() if e["asked"])
            c = r["combined"]
            lines.append(
                f"round {r['round']}: {r['hard_query']} hard samples shown, asked {r['asked']} ({asked}), "
                f"sent {r['sent']} ({r['received']} with the audit); "
                f"combined ({', '.join(c['owners']) or 'no owner'}): hard {c['hard_accuracy']:.3f}  "
                f"test {c['test_accuracy']:.3f}  shared {c['shared']}"
                + (f"; unsettled: {', '.join(r['unsettled'])}" if r.get("unsettled") else "")
                + (f"; stopped: {r['stopped']}" if r.get("stopped") else "")
            )
        return lines

    def table(self) -> str:
        """The ranking as a plain-text table."""
        rows = [
            (
                "rank",
                "owner",
                "status",
                "shared",
                "hard acc",
                "test acc",
                "utility",
                *(["value"] if self.by_value else []),
                "95% interval",
                "other classes",
            )
        ]
        owners = self.to_dict()["owners"]
        unsettled = unsettled_order(owners)
        for d in owners:
            if d["status"] != "ok":
                rows.append(
                    (
                        str(d["rank"] or "-"),
                        d["id"],
                        f"{d['status']}: {d['reason']}",
                        str(d["shared"]),
                        *[""] * (len(rows[0]) - 4),
                    )
                )
                continue
            ci = d.get("value_ci")
            rows.append(
                (
                    str(d["rank"]) + ("~" if d["id"] in unsettled else ""),
                    d["id"],
                    owner_status(d),
                    str(d["shared"]),
                    f"{d['hard_accuracy']:.3f}",
                    f"{d['test_accuracy']:.3f}",
                    f"{d['utility']:+.3f}",
                    *([f"{d['value']:+.3f}"] if self.by_value else []),
                    "" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]",
                    f"{0.0 - 100 * d['other_accuracy_drop']:+.1f} pts",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
            for r in rows
        ]
        if unsettled:
            lines.append(
                "~: its 95% interval overlaps the next owner's: the held-out hard samples do not settle "
                "their order"
            )
        t, c = self.trainer, self.combined
        lines.append(
            f"trainer (control): hard {t['hard_accuracy']:.3f}  test {t['test_accuracy']:.3f}  "
            f"({t['hard_query']} hard samples shown to owners, {t['hard_eval']} held out)"
        )
        lines.append(
            f"combined ({', '.join(c['owners']) or 'no owner'}): hard {c['hard_accuracy']:.3f}  "
            f"test {c['test_accuracy']:.3f}  shared {c['shared']}"
        )
        return "\n".join(lines)

    def _privacy_phrase(self) -> str:
        """How the strategy line ends: what the query kept of the hard samples."""
        if not self.private:
            return "."
        if self.disclosure.get("revealing_embedder_allowed"):
            return (
                ", private query, but with an embedder whose embeddings give the hard samples back "
                "(allowed explicitly)."
            )
        return ", private query (no raw hard sample left the trainer)."

    def markdown(self) -> str:
        d = self.to_dict()
        return "\n".join(
            [
                f"# mycroft-fl report: {d['scenario']}",
                "",
                f"Strategy `{d['strategy']}` (selector `{d['selector']}`, valuer `{d['valuer']}`), "
                f"{self.strategy.selector.scope(self.strategy.budget)}, seed {d['seed']}"
                + self._privacy_phrase(),
                "Hard accuracy is measured on held-out hard samples that owners never saw; utility is an owner's",
                "hard accuracy minus the trainer's control (the same retraining with no owner data), with its 95%",
                "paired-bootstrap interval over the held-out hard samples. `other classes` is the change in test",
                "accuracy outside the hard classes. An owner is flagged harmful, ranked below all others and left",
                "out of the combined model when its subset makes the model worse on the trainer's held-out",
                "validation data beyond noise, or when a random audit sample of its data shows most of its labels",
                "wrong beyond chance.",
                *(
                    [
                        f"Owners are ranked by their value under the valuer `{d['valuer']}`: "
                        f"{self.strategy.valuer.meaning}, where v(S) is the utility of the data of the "
                        "owners in S together. Utility, hard and test accuracy are still those of its "
                        "data alone."
                    ]
                    if self.by_value
                    else []
                ),
                "",
                "```",
                self.table(),
                "```",
                "",
                *[
                    f"- `{o['id']}` is harmful: {o['harm_reason']}."
                    for o in d["owners"]
                    if o.get("harmful")
                ],
                *[
                    f"- `{o['id']}` is a replayer: {o['replayed']} of the samples it sent are the trainer's "
                    "own hard query samples, or near-copies; they were dropped before valuation."
                    for o in d["owners"]
                    if o.get("replayed")
                ],
                *[f"- `{o['id']}`: {note}." for o in d["owners"] for note in o.get("notes", [])],
                *[f"- Warning: {w}." for w in self.warnings],
                *[f"- Not invited, not queried: {line}." for line in self.ignored],
                *(
                    [""]
                    if self.warnings
                    or self.ignored
                    or any(
                        o.get("harmful") or o.get("replayed") or o.get("notes") for o in d["owners"]
                    )
                    else []
                ),
                f"Samples that left owners: {d['exposure']['total_received']} "
                f"(from {d['exposure']['owners_sharing']} owners); "
                f"used: {d['exposure']['total_shared']}; replays of the trainer's own hard samples dropped: "
                f"{d['exposure']['total_replayed']}. "
                + (
                    f"Cluster-histogram entries revealed beside them: {d['exposure']['total_revealed']}. "
                    if d["exposure"]["total_revealed"]
                    else ""
                )
                + f"Valuing the owners took {d['valuation'].get('retrains', 0)} retrains of the model "
                f"({d['valuation'].get('seconds', float('nan')):.1f} s). "
                f"Wall time: {d['timings'].get('total_s', float('nan')):.1f} s.",
                "",
                *(
                    [
                        f"Rounds (each owner shares at most {d['budget']} over all of them; later "
                        "rounds ask the useful owners for more, for the hard samples the combined "
                        "model still gets wrong):",
                        "",
                        *[f"- {line}" for line in self.rounds_lines()],
                        "",
                    ]
                    if self.rounds
                    else []
                ),
                "![ranking](ranking.png)",
                "",
            ]
        )

    def write(self, out: str | Path) -> Path:
        """Write report.json, report.md and ranking.png into directory `out`; return report.json's path."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        (out / "report.md").write_text(self.markdown())
        self.plot(out / "ranking.png")
        return out / "report.json"

    def plot(self, path: Path) -> None:
        """ranking.png: the bars of `ranking_bars`."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        bars = ranking_bars(self.to_dict()["owners"], by_value=self.by_value)[::-1]  # best on top
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(bars) + 1.5))
        errors = [
            (0.0, 0.0) if b.interval is None else (b.value - b.interval[0], b.interval[1] - b.value)
            for b in bars
        ]
        ax.barh(
            [b.label for b in bars],
            [b.value for b in bars],
            color=[b.colour for b in bars],
            xerr=list(zip(*errors)) if bars else None,
            ecolor="black",
            capsize=2,
        )
        for i, bar in enumerate(bars):
            if bar.reason is not None:
                ax.annotate(
                    bar.reason[:60],
                    (0, i),
                    xytext=(4, -3),
                    textcoords="offset points",
                    fontsize=7,
                    color="dimgrey",
                )
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(
            f"value ({self.strategy.valuer.name})"
            if self.by_value
            else "utility: held-out hard accuracy − control"
        )
        ax.set_title(
            f"{self.scenario}: {self.strategy.name}, "
            + (f"budget {self.strategy.budget}" if self.strategy.budgeted else "unbudgeted")
            + f", seed {self.seed}"
            + (", private" if self.private else "")
        )
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


class Bar(NamedTuple):
    """One owner's bar in ranking.png."""

    label: str
    value: float
    colour: str
    reason: str | None = None
    interval: tuple[float, float] | None = None


def ranking_bars(owners: list[dict], *, by_value: bool = False) -> list[Bar]:
    """The bars of ranking.png from report.json's owners (in rank order): every valued owner by its
    utility with its 95% interval (`by_value`: by its value, without one), red when harmful, its
    status in the label (`~` after its rank: its interval overlaps the next owner's); then the
    rejected and failed ones, grey, with their reason, so no owner is missing from the picture. Over
    40 valued owners: the best and worst 20."""
    ranked = [d for d in owners if d["status"] == "ok"]
    if len(ranked) > 40:
        ranked = ranked[:20] + ranked[-20:]
    unsettled = unsettled_order(ranked)
    bars = [
        Bar(
            f"{d['rank']}{'~' if d['id'] in unsettled else ''}. {d['id']}"
            + ("" if owner_status(d) == "ok" else f" ({owner_status(d)})"),
            d["value" if by_value else "utility"],
            "tab:red" if d.get("harmful") else "tab:blue",
            interval=None if d.get("value_ci") is None else tuple(d["value_ci"]),
        )
        for d in ranked
    ]
    dropped = [d for d in owners if d["status"] != "ok"][:20]
    return bars + [
        Bar(f"-  {d['id']} ({d['status']})", 0.0, "lightgrey", str(d["reason"])) for d in dropped
    ]


def unsettled_order(owners: list[dict]) -> set[str]:
    """The ids of valued owners (in rank order) whose value's interval overlaps the next owner's."""
    ranked = [d for d in owners if d["status"] == "ok" and d.get("value_ci")]
    return {
        a["id"]
        for a, b in zip(ranked, ranked[1:])
        if overlapping([a["value_ci"], b["value_ci"]])[0]
    }


def owner_status(owner: dict) -> str:
    """What the table says of a valued owner: ok, harmful, or a replayer (it sent back the trainer's own
    hard query samples), or both."""
    words = ["harmful"] if owner.get("harmful") else []
    if owner.get("replayed"):
        words.append(f"replayer ({owner['replayed']} replayed)")
    return ", ".join(words) or "ok"


@cache
def report_schema() -> dict:
    """report.json's JSON Schema (draft 2020-12), shipped as `mycroft_fl/trainer/report.schema.json`:
    every field, which are required, and no others."""
    return json.loads(files("mycroft_fl.trainer").joinpath("report.schema.json").read_text())


def schema_problem(doc: Any) -> str | None:
    """Where `doc` breaks report.json's schema, in one line (None: it is a report of this schema
    version)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    if isinstance(doc, dict) and doc.get("schema_version") not in READABLE_VERSIONS:
        found = doc.get("schema_version")
        versions = " or ".join(map(str, READABLE_VERSIONS))
        return (
            f"schema_version is {found}: this mycroft-fl reads reports of schema version {versions}"
            if found is not None
            else f"no schema_version: not a report.json of schema version {versions}"
        )
    error = best_match(Draft202012Validator(report_schema()).iter_errors(doc))
    if error is None:
        return None
    where = error.json_path.removeprefix("$").removeprefix(".") or "the document"
    message = " ".join(error.message.split())
    return f"{where}: {message[:200] + '...' if len(message) > 200 else message}"


def _recorded_strategy(doc: dict) -> StrategyConfig:
    """The strategy report.json names: its selector and valuer with default parameters, or, for a
    name this version does not know or a valuer whose meaning reads otherwise, one that carries the
    recorded name and meaning."""
    selector_class = SELECTORS.get(doc["selector"], Selector)
    if selector_class.name != doc["selector"]:
        selector_class = _recorded(selector_class, name=doc["selector"])
    valuer_class = VALUERS.get(doc["valuer"], Valuer)
    if valuer_class.name != doc["valuer"] or valuer_class.meaning != doc["value_meaning"]:
        valuer_class = _recorded(valuer_class, name=doc["valuer"], meaning=doc["value_meaning"])
    return StrategyConfig(
        doc["strategy"],
        selector=selector_class(),
        valuer=valuer_class(),
        budget=doc["budget"],
        settle=doc.get("settle"),
    )


def _recorded(base: type, **class_vars: str) -> type:
    """A subclass of `base` whose name (and meaning) are what a report recorded."""
    return dataclass(frozen=True)(type(base.__name__, (base,), {**class_vars}))


def clean_json(value):
    """JSON-safe: nan becomes null, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
