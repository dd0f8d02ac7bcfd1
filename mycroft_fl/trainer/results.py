"""What valuing one owner found: its status, what it shared, its scores, rank and harm."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mycroft_fl.core.commitment import Commitment
from mycroft_fl.core.data import Dataset
from mycroft_fl.core.errors import InputError

#: An owner's outcome: valued, rejected (its reply failed a check) or failed (no usable reply).
Status = Literal["ok", "rejected", "failed"]


@dataclass
class OwnerResult:
    """One owner's outcome. `status` is ok, rejected (its reply failed a check) or failed (no usable reply).

    `received` counts the samples that left the owner, whatever became of them; `shared` those the
    trainer kept and used (none for a rejected reply; replays of its own hard samples removed);
    `indices` the committed positions of the samples it sent, as it sent them; `commitment` what it
    committed to before the query (its root and its rows per class).
    `near_copies` counts the samples it sent that repeat another of its own (counted once); `credit`
    `unbought` counts its picks left out because the audit's rows of their class are mostly wrong
    (the trainer does not buy labels it has seen to be wrong); `credit`
    is the share of its samples' worth that is its own (1: no other owner sent a copy of any of
    them; 1/2 for samples two owners sent).
    `utility` is always its subset's measured gain: held-out hard accuracy after training with its
    subset alone minus the control's, `utility_ci` its 95% paired-bootstrap interval. `value` is the
    valuer's output, by which owners are ranked (the utility itself under `retrain`; what it means
    under another valuer is `Valuer.meaning`), `value_se` its standard error when the valuer samples
    (Monte Carlo Shapley), else None, `value_ci` its 95% interval when it is the utility scaled by
    the owner's `credit` (under `retrain`), else None. `notes` say what the report should not leave silent (e.g. a
    budget larger than the owner's data).
    `audit` is the random sample of its data the owner sent for the label audit (counted in
    `received`, never used for training); `label_audit` what the audit found.
    `histogram` is the count of its samples per hard class and cluster cell it reported (EcoVal's
    query, else None): what it revealed beyond samples, `revealed` entries of it.
    `recorded_shared` is `shared` as a report read back gives it (`from_dict`: report.json does not
    carry the subset itself).
    """

    id: str
    status: Status = "ok"
    subset: Dataset | None = field(default=None, repr=False)
    reason: str | None = None
    selection_s: float | None = None
    local_size: int | None = None
    received: int = 0
    replayed: int = 0
    near_copies: int = 0
    unbought: int = 0
    credit: float = 1.0
    label_agreement: float | None = None
    label_agreement_expected: float | None = None
    hard_accuracy: float | None = None
    test_accuracy: float | None = None
    utility: float | None = None
    utility_ci: tuple[float, float] | None = None
    value: float | None = None
    value_se: float | None = None
    value_ci: tuple[float, float] | None = None
    other_accuracy_drop: float | None = None
    audit: Dataset | None = field(default=None, repr=False)
    label_audit: dict | None = None
    harmful: bool = False
    harm_reason: str | None = None
    rank: int | None = None
    histogram: np.ndarray | None = field(default=None, repr=False)
    indices: np.ndarray | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    commitment: Commitment | None = field(default=None, repr=False)
    recorded_shared: int | None = field(default=None, repr=False)

    @property
    def shared(self) -> int:
        """Samples the trainer kept and used."""
        if self.subset is not None:
            return len(self.subset)
        return self.recorded_shared or 0

    @classmethod
    def from_dict(cls, d: dict) -> OwnerResult:
        """An owner's entry of report.json (as `to_dict` writes it) read back; what report.json does
        not carry (its subset, audit sample and indices) stays None. A commitment whose rows are not
        its class counts' sum is an InputError."""
        commitment = None
        if "commitment" in d:
            c = d["commitment"]
            commitment = Commitment(bytes.fromhex(c["root"]), tuple(c["class_counts"]))
            if commitment.n != c["rows"]:
                raise InputError(
                    f"owner {d['id']!r}: commitment rows {c['rows']} are not the sum of its "
                    f"class_counts ({commitment.n})"
                )
        histogram = None
        if "histogram" in d:
            try:
                histogram = np.array(d["histogram"], dtype=np.int64)
            except (TypeError, ValueError):
                raise InputError(f"owner {d['id']!r}: histogram is not a table of counts") from None
            if histogram.size != d["revealed"]:
                raise InputError(
                    f"owner {d['id']!r}: revealed is {d['revealed']} but its histogram has "
                    f"{histogram.size} entries"
                )

        def interval(key: str) -> tuple[float, float] | None:
            return None if d.get(key) is None else tuple(d[key])

        return cls(
            id=d["id"],
            status=d["status"],
            reason=d.get("reason"),
            selection_s=d.get("selection_s"),
            local_size=d.get("local_size"),
            received=d["received"],
            replayed=d.get("replayed", 0),
            near_copies=d.get("near_copies", 0),
            unbought=d.get("unbought", 0),
            credit=d.get("credit", 1.0),
            label_agreement=d.get("label_agreement"),
            label_agreement_expected=d.get("label_agreement_expected"),
            hard_accuracy=d.get("hard_accuracy"),
            test_accuracy=d.get("test_accuracy"),
            utility=d.get("utility"),
            utility_ci=interval("utility_ci"),
            value=d.get("value"),
            value_se=d.get("value_se"),
            value_ci=interval("value_ci"),
            other_accuracy_drop=d.get("other_accuracy_drop"),
            label_audit=d.get("label_audit"),
            harmful=d.get("harmful", False),
            harm_reason=d.get("harm_reason"),
            rank=d["rank"],
            histogram=histogram,
            notes=list(d.get("notes", [])),
            commitment=commitment,
            recorded_shared=d["shared"],
        )

    @property
    def revealed(self) -> int:
        """Entries of the cluster histogram it reported (0 without one)."""
        return 0 if self.histogram is None else int(self.histogram.size)

    def to_dict(self) -> dict:
        out = {
            "id": self.id,
            "status": self.status,
            "shared": self.shared,
            "received": self.received,
        }
        if self.status == "ok":
            out.update(
                hard_accuracy=self.hard_accuracy,
                test_accuracy=self.test_accuracy,
                utility=self.utility,
                **({} if self.utility_ci is None else {"utility_ci": list(self.utility_ci)}),
                value=self.value,
                **({} if self.value_se is None else {"value_se": self.value_se}),
                **({} if self.value_ci is None else {"value_ci": list(self.value_ci)}),
                other_accuracy_drop=self.other_accuracy_drop,
                harmful=self.harmful,
                replayed=self.replayed,
                near_copies=self.near_copies,
                unbought=self.unbought,
                credit=self.credit,
                label_agreement=self.label_agreement,
                label_agreement_expected=self.label_agreement_expected,
                label_audit=self.label_audit,
            )
            if self.harmful:
                out["harm_reason"] = self.harm_reason
        else:
            out["reason"] = self.reason
        out["rank"] = self.rank
        if self.histogram is not None:
            out["histogram"] = self.histogram.tolist()
            out["revealed"] = self.revealed
        if self.local_size is not None:
            out["local_size"] = self.local_size
        if self.selection_s is not None:
            out["selection_s"] = round(self.selection_s, 4)
        if self.notes:
            out["notes"] = list(self.notes)
        if self.commitment is not None:
            out["commitment"] = {
                "root": self.commitment.root.hex(),
                "rows": self.commitment.n,
                "class_counts": list(self.commitment.counts),
            }
        return out
