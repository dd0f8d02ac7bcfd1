"""The wire protocol between trainer and owners, as Flower records, each encoder beside its decoder:
the request to commit and an owner's commitment (`query.commit`), the query and an owner's reply
(`query.select`), and an owner's error."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.transport import Answered, Committed, Reply

if TYPE_CHECKING:  # the records need numpy only: an owner committing loads no model code
    from mycroft_fl.core.commitment import Commitment
    from mycroft_fl.core.query import Query
    from mycroft_fl.owner.answer import Answer

MESSAGE_TYPE = "query.select"
COMMIT_TYPE = "query.commit"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def query_content(query: Query, *, scenario: str = "") -> RecordDict:
    """The query as Flower records: arrays in `query`, scalars in `config`."""
    arrays = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in query.to_arrays().items()})
    config = ConfigRecord({**query.to_config(), "scenario": scenario})
    return RecordDict({"query": arrays, "config": config})


def commit_content(n_classes: int, *, scenario: str = "") -> RecordDict:
    """The request to commit: how many classes a commitment counts (and, for simulated owners, the
    scenario their data comes from). It carries nothing of the trainer's data."""
    return RecordDict({"config": ConfigRecord({"n_classes": int(n_classes), "scenario": scenario})})


def commitment_content(owner_id: str, commitment: Commitment, *, local_size: int) -> RecordDict:
    """An owner's commitment: its root and rows per class, the samples it holds, and who it is."""
    arrays = {k: Array(v) for k, v in commitment.to_arrays().items()}
    return RecordDict(
        {
            "commitment": ArrayRecord(arrays),
            "metrics": MetricRecord({"local_size": int(local_size)}),
            "info": ConfigRecord({"owner_id": owner_id}),
        }
    )


def decode_commitment(content: RecordDict, fallback: str) -> Committed | OwnerResult:
    """An owner's commitment records as the engine takes them (`commitment_content`'s inverse),
    unchecked; or why there is none (as `decode_reply` says it)."""
    owner_id, failure = _who(content, fallback)
    if failure is not None:
        return failure
    record = content.array_records.get("commitment")
    arrays = _arrays(owner_id, "commitment", record, list(record or ()))
    if isinstance(arrays, OwnerResult):
        return arrays
    metrics = content.metric_records.get("metrics") or MetricRecord()
    return Committed(owner_id, arrays, local_size=metrics.get("local_size"))


def _who(content: RecordDict, fallback: str) -> tuple[str, OwnerResult | None]:
    """The owner a reply names, or the result of a reply that names none (rejected, reported under
    `fallback`) or carries the owner's error (failed)."""
    info = content.config_records.get("info") or ConfigRecord()
    owner_id = info.get("owner_id")
    if not isinstance(owner_id, str) or not owner_id:
        reason = "reply does not say which owner sent it"
        return fallback, OwnerResult(fallback, status="rejected", reason=reason)
    if "error" in info:
        return owner_id, OwnerResult(
            owner_id, status="failed", reason=short_reason(str(info["error"]))
        )
    return owner_id, None


def for_owners(content: RecordDict, owners: Sequence[int]) -> RecordDict:
    """A message for a simulated node that answers for several of the scenario's owners (by
    number)."""
    config = ConfigRecord({**content["config"], "owners": [int(i) for i in owners]})
    return RecordDict({**content, "config": config})


def owners_reply_content(parts: dict[int, RecordDict]) -> RecordDict:
    """One reply carrying several owners' replies side by side, each keyed by the owner's number."""
    return RecordDict({f"owner-{i}.{k}": v for i, part in parts.items() for k, v in part.items()})


def owner_parts(content: RecordDict) -> dict[int, RecordDict]:
    """A several-owner reply split into each owner's reply, by owner number (keys not of that form
    are left out)."""
    parts: dict[int, dict] = {}
    for key, value in content.items():
        head, _, name = key.partition(".")
        number = head.removeprefix("owner-")
        if head.startswith("owner-") and number.isdigit() and name:
            parts.setdefault(int(number), {})[name] = value
    return {i: RecordDict(part) for i, part in parts.items()}


def reply_content(
    owner_id: str,
    selector: str,
    answer: Answer,
    *,
    local_size: int,
    selection_s: float,
) -> RecordDict:
    """An owner's reply: its picks and the audit's rows opened against its commitment (positions and
    proofs), the cluster histogram (when the query carried centres), how long selection took, and
    who it is."""
    arrays = {
        "x": Array(np.ascontiguousarray(answer.x)),
        "y": Array(answer.y.astype(np.int64)),
        "positions": Array(answer.positions.astype(np.int64)),
        "proofs": Array(np.ascontiguousarray(answer.proofs)),
        "audit_x": Array(np.ascontiguousarray(answer.audit_x)),
        "audit_y": Array(answer.audit_y.astype(np.int64)),
        "audit_positions": Array(answer.audit_positions.astype(np.int64)),
        "audit_proofs": Array(np.ascontiguousarray(answer.audit_proofs)),
    }
    if answer.histogram is not None:
        arrays["histogram"] = Array(np.ascontiguousarray(answer.histogram, dtype=np.int64))
    return RecordDict(
        {
            "subset": ArrayRecord(arrays),
            "metrics": MetricRecord(
                {"local_size": int(local_size), "selection_s": float(selection_s)}
            ),
            "info": ConfigRecord({"owner_id": owner_id, "selector": selector}),
        }
    )


def decode_reply(content: RecordDict, fallback: str) -> Answered:
    """An owner's reply records as the engine takes them (`reply_content`'s inverse), unchecked; or,
    when the records say no more, why: no owner id (rejected, reported under `fallback`), an
    owner's error (failed), no `subset` record or arrays numpy cannot read (rejected).

    Parameters
    ----------
    content : RecordDict
        One owner's reply records.
    fallback : str
        The id to report it under when it does not say which owner it is.
    """
    owner_id, failure = _who(content, fallback)
    if failure is not None:
        return failure
    arrays = _arrays(owner_id, "subset", content.array_records.get("subset"), REPLY_ARRAYS)
    if isinstance(arrays, OwnerResult):
        return arrays
    metrics = content.metric_records.get("metrics") or MetricRecord()
    return Reply(
        owner_id,
        **arrays,
        local_size=metrics.get("local_size"),
        selection_s=_number(metrics.get("selection_s")),
    )


def _arrays(
    owner_id: str, name: str, record: ArrayRecord | None, keys: Sequence[str]
) -> dict[str, np.ndarray | None] | OwnerResult:
    """The arrays `keys` of a reply's record `name` as numpy arrays (None for a key it lacks), or
    the rejection of a reply without that record or with an array numpy cannot read."""
    if record is None:
        return OwnerResult(owner_id, status="rejected", reason=f"reply has no {name!r} record")
    try:
        return {k: record[k].numpy() if k in record else None for k in keys}
    except Exception as exc:  # a record Flower accepted but numpy cannot read
        return OwnerResult(owner_id, status="rejected", reason=f"unreadable array ({exc})")


#: The arrays of a reply's `subset` record (`reply_content`), as `Reply` names them.
REPLY_ARRAYS = (
    "x",
    "y",
    "positions",
    "proofs",
    "audit_x",
    "audit_y",
    "audit_positions",
    "audit_proofs",
    "histogram",
)


def _number(value: object) -> float | None:
    """A finite number from a reply's metrics, else None (report.json must stay valid JSON)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def error_content(owner_id: str, reason: str) -> RecordDict:
    """An owner's reply when it could not select: who it is and why."""
    return RecordDict({"info": ConfigRecord({"owner_id": owner_id, "error": reason})})


def short_reason(text: str, limit: int = 300) -> str:
    """The last meaningful line of an error text (Flower forwards whole tracebacks), on one line."""
    lines = [
        ln.strip()
        for ln in _ANSI.sub("", text).splitlines()
        if ln.strip() and ln.strip() not in ("'>", ">")
    ]
    line = (lines[-1] if lines else "unknown error").rstrip("'>").strip()
    return line[:limit]
