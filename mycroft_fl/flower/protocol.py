"""The wire protocol between trainer and owners: the query, an owner's reply and an owner's error as
Flower records, each encoder beside its decoder."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from mycroft_fl.core.query import Query
from mycroft_fl.owner.answer import Answer
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.transport import Answered, Reply

MESSAGE_TYPE = "query.select"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def query_content(query: Query, *, scenario: str = "") -> RecordDict:
    """The query as Flower records: arrays in `query`, scalars in `config`."""
    arrays = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in query.to_arrays().items()})
    config = ConfigRecord({**query.to_config(), "scenario": scenario})
    return RecordDict({"query": arrays, "config": config})


def for_owners(content: RecordDict, owners: Sequence[int]) -> RecordDict:
    """A query for a simulated node that answers for several of the scenario's owners (by number)."""
    config = ConfigRecord({**content["config"], "owners": [int(i) for i in owners]})
    return RecordDict({"query": content["query"], "config": config})


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
    """An owner's reply: the selected samples, the audit sample (empty when the query asked for
    none), the cluster histogram (when the query carried centres), how long selection took, and who
    it is."""
    arrays = {
        "x": Array(answer.x),
        "y": Array(answer.y.astype(np.int64)),
        "indices": Array(answer.indices.astype(np.int64)),
        "audit_x": Array(np.ascontiguousarray(answer.audit_x)),
        "audit_y": Array(answer.audit_y.astype(np.int64)),
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
    info = content.config_records.get("info") or ConfigRecord()
    owner_id = info.get("owner_id")
    if not isinstance(owner_id, str) or not owner_id:
        reason = "reply does not say which owner sent it"
        return OwnerResult(fallback, status="rejected", reason=reason)
    if "error" in info:
        return OwnerResult(owner_id, status="failed", reason=short_reason(str(info["error"])))
    subset = content.array_records.get("subset")
    if subset is None:
        return OwnerResult(owner_id, status="rejected", reason="reply has no 'subset' record")
    metrics = content.metric_records.get("metrics") or MetricRecord()
    try:
        arrays = {
            k: subset[k].numpy() if k in subset else None
            for k in ("x", "y", "indices", "audit_x", "audit_y", "histogram")
        }
    except Exception as exc:  # a record Flower accepted but numpy cannot read
        return OwnerResult(owner_id, status="rejected", reason=f"unreadable array ({exc})")
    return Reply(
        owner_id,
        **arrays,
        local_size=metrics.get("local_size"),
        selection_s=_number(metrics.get("selection_s")),
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
