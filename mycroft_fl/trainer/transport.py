"""How the acquisition engine reaches owners: a small contract any transport keeps.

A transport carries the trainer's messages to owners and their replies back, and nothing else: it
checks no reply's content (the engine does, the same way for every transport). An owner answers
in two steps: `commit_all` asks every owner the transport reaches to commit to its data (owners
are known by the ids their replies give; owners the trainer did not invite are left out and listed
in `ignored`), then `ask` sends each owner its query and brings back its picks and the audit's
rows, opened against its commitment. An owner that cannot be reached, raises, times out, or sends
records the transport cannot read is a `failed` or `rejected` `OwnerResult` with its reason; the
run goes on.

Transports: `trainer.in_process.InProcessOwners` (owners' data in this process: the Python API and
`compare`) and `flower.transport.FlowerOwners` (Flower's Grid: simulation and deployment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from mycroft_fl.trainer.results import OwnerResult

if TYPE_CHECKING:  # a transport's records need numpy only: an owner's ClientApp imports them
    from mycroft_fl.core.query import Query


@dataclass
class Committed:
    """An owner's commitment to its data as it arrived, before any check: the root and the rows
    per class (`commitment`: the arrays of `core.commitment.Commitment.to_arrays`), and the number
    of samples it declared."""

    id: str
    commitment: object = None
    local_size: object = None

    @property
    def received(self) -> int:
        """Samples that left the owner: none, a commitment is a hash and counts."""
        return 0


@dataclass
class Reply:
    """An owner's answer to a query as it arrived, before any check: its picks (`x`, `y`, their
    `positions` in its committed order and their `proofs`), the audit's rows (`audit_x`,
    `audit_y`, `audit_positions`, `audit_proofs`), the cluster histogram, the local size it
    declared and how long it took to select. Any field may be missing or malformed."""

    id: str
    x: object = None
    y: object = None
    positions: object = None
    proofs: object = None
    audit_x: object = None
    audit_y: object = None
    audit_positions: object = None
    audit_proofs: object = None
    histogram: object = None
    local_size: object = None
    selection_s: float | None = None

    @property
    def received(self) -> int:
        """Samples that left the owner, whatever their form: the longest of the picks' arrays plus
        the longest of the audit's."""
        return _length(self.x, self.y, self.positions) + _length(self.audit_x, self.audit_y)


def _length(*arrays: object) -> int:
    """The number of samples in the longest of `arrays` (0 for none or for what is no array)."""
    return max((len(a) for a in arrays if isinstance(a, np.ndarray) and a.ndim >= 1), default=0)


#: What a transport brings back from one owner: its reply, or why there is none.
Answered = Reply | OwnerResult


class Transport(Protocol):
    """Carries the trainer's messages to owners and their replies back."""

    #: Owners that answered but were not invited (reported, never queried), one line each.
    ignored: list[str]

    def commit_all(self, n_classes: int, stage: str) -> dict[str, Committed | OwnerResult]:
        """Ask every owner this transport reaches to commit to its data.

        Parameters
        ----------
        n_classes : int
            The task's classes (a commitment counts an owner's rows of each).
        stage : str
            What to call this step in progress displays.

        Returns
        -------
        dict of str to Committed or OwnerResult
            Every invited owner reached or expected, by id, in a stable order.
        """
        ...

    def ask(self, queries: Mapping[str, Query], stage: str) -> dict[str, Answered]:
        """Send each named owner its query (owners that committed before); owners given the very
        same Query object may share a message where the transport can.

        Parameters
        ----------
        queries : mapping of str to Query
            Owner id to its query.
        stage : str
            What to call this step in progress displays.

        Returns
        -------
        dict of str to Reply or OwnerResult
            Every owner of `queries`, by id.
        """
        ...
