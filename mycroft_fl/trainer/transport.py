"""How the acquisition engine reaches owners: a small contract any transport keeps.

A transport carries queries to owners and their replies back, and nothing else: it checks no
reply's content (the engine does, the same way for every transport). `ask_all` reaches every owner
the transport can (the first round: owners are known by the ids their replies give), `ask` the
owners named (later rounds). An owner that cannot be reached, raises, times out, or sends records
the transport cannot read is a `failed` or `rejected` `OwnerResult` with its reason; the run goes on.

Transports: `trainer.in_process.InProcessOwners` (owners' data in this process: the Python API and
`compare`) and `flower.transport.FlowerOwners` (Flower's Grid: simulation and deployment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mycroft_fl.core.query import Query
from mycroft_fl.trainer.results import OwnerResult


@dataclass
class Reply:
    """An owner's answer to a query as it arrived, before any check: its picks (`x`, `y` and their
    `indices` in its data), the audit sample (`audit_x`, `audit_y`), the cluster histogram, the
    local size it declared and how long it took to select. Any field may be missing or malformed."""

    id: str
    x: object = None
    y: object = None
    indices: object = None
    audit_x: object = None
    audit_y: object = None
    histogram: object = None
    local_size: object = None
    selection_s: float | None = None

    @property
    def received(self) -> int:
        """Samples that left the owner, whatever their form: the longest of the picks' arrays plus
        the longest of the audit's."""
        return _length(self.x, self.y, self.indices) + _length(self.audit_x, self.audit_y)


def _length(*arrays: object) -> int:
    """The number of samples in the longest of `arrays` (0 for none or for what is no array)."""
    return max((len(a) for a in arrays if isinstance(a, np.ndarray) and a.ndim >= 1), default=0)


#: What a transport brings back from one owner: its reply, or why there is none.
Answered = Reply | OwnerResult


class Transport(Protocol):
    """Carries queries to owners and their replies back."""

    def ask_all(self, query: Query, stage: str) -> dict[str, Answered]:
        """Send `query` to every owner this transport reaches.

        Parameters
        ----------
        query : Query
            The same query for every owner.
        stage : str
            What to call this step in progress displays.

        Returns
        -------
        dict of str to Reply or OwnerResult
            Every owner reached or expected, by id, in a stable order.
        """
        ...

    def ask(self, queries: Mapping[str, Query], stage: str) -> dict[str, Answered]:
        """Send each named owner its own query (owners reached by `ask_all` before).

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
