"""The acquisition engine's Flower transport: owners are nodes of a ServerApp's Grid.

It waits for the nodes (with a deadline), asks every node to commit (`query.commit`, which carries
nothing of the trainer's data) and learns from the replies which owner each node is; owners the
trainer did not name are left out (`ignored`) and never sent a query. It then pushes each invited
owner its query (`query.select`; at most `max_in_flight` messages awaiting replies at once), pulls
the replies until all are in or the timeout passes, and decodes them (`protocol`) for the engine
to check. A simulated node may answer for several owners (`nodes`), each in its own part of the
node's reply, decoded on its own; owners of one node given the same query share one message. An
owner that raises, times out, never connects or replies under another owner's id is a `failed` or
`rejected` result with its reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from flwr.app import Message, RecordDict
from flwr.serverapp import Grid

from mycroft_fl.core.progress import Progress
from mycroft_fl.core.query import Query
from mycroft_fl.flower.protocol import (
    COMMIT_TYPE,
    MESSAGE_TYPE,
    commit_content,
    decode_commitment,
    decode_reply,
    for_owners,
    owner_parts,
    query_content,
    short_reason,
)
from mycroft_fl.scenarios.spec import load_scenario
from mycroft_fl.trainer.results import OwnerResult
from mycroft_fl.trainer.transport import Answered, Committed

_log = logging.getLogger("mycroft_fl")


class FlowerOwners:
    """Owners reached through a Flower Grid.

    Parameters
    ----------
    grid : Grid
        The ServerApp's grid, whose nodes are the owners.
    owners : list of str, or int
        The owners' distinct ids (then one that never answers is reported by name), or how many
        to wait for.
    nodes : int, optional
        Simulation only: this many nodes serve the named owners, the k-th node (by id) answering
        for owners k, k + nodes, ... None: one node per owner, as in a real deployment.
    scenario : str
        A scenario file (absolute path) for simulated owners: a node without `data-path` builds
        its data from it.
    wait_timeout, reply_timeout, poll_interval : float
        Seconds to wait for the nodes, for a round's replies, and between polls.
    max_in_flight : int, optional
        At most this many queries awaiting replies at once (None: all at once).
    progress : callable, optional
        Called as `progress(stage, done, total)` while waiting for nodes and replies.
    """

    def __init__(
        self,
        grid: Grid,
        *,
        owners: Sequence[str] | int,
        nodes: int | None = None,
        scenario: str = "",
        wait_timeout: float = 120.0,
        reply_timeout: float = 900.0,
        poll_interval: float = 0.2,
        max_in_flight: int | None = None,
        progress: Progress | None = None,
    ):
        self.grid = grid
        self.expected = list(owners) if isinstance(owners, (list, tuple)) else []
        self.num_owners = len(self.expected) if self.expected else int(owners)
        self.nodes, self.scenario = nodes, scenario
        self.wait_timeout, self.reply_timeout = wait_timeout, reply_timeout
        self.poll_interval, self.max_in_flight, self.progress = (
            poll_interval,
            max_in_flight,
            progress,
        )
        self.number = {o: i for i, o in enumerate(self.expected)}  # an owner's number
        self.node_of: dict[str, int] = {}  # the node each owner committed from
        self.ignored: list[str] = []
        self.owners_of_scenario: set[str] | None = (
            set(load_scenario(scenario).owner_ids) if scenario and nodes is None else None
        )

    def commit_all(self, n_classes: int, stage: str) -> dict[str, Committed | OwnerResult]:
        """Wait for the nodes, ask every one to commit and decode every owner's commitment: the
        named owners in their order (one that never answered failed with its likeliest reason), or,
        when the owners are not named, every owner that answered. Owners that answered but were not
        named are left out and listed in `ignored`."""
        nodes = self._wait_for_nodes()
        content = commit_content(n_classes, scenario=self.scenario)
        served = self._served(nodes)
        messages = {
            n: _message(for_owners(content, served[n]) if served else content, n, COMMIT_TYPE)
            for n in nodes
        }
        replies = self._send_and_receive(messages, stage)
        if served:
            return self._shared_results(served, replies, decode_commitment)
        return self._node_results(nodes, replies, decode_commitment)

    def ask(self, queries: Mapping[str, Query], stage: str) -> dict[str, Answered]:
        """Send each owner its query at the node it committed from (owners of one shared node given
        the same query in one message); a reply under another owner's name is rejected."""
        groups: dict[tuple[int, int], list[str]] = {}  # (node, query) -> its owners
        for owner_id, query in queries.items():
            groups.setdefault((self.node_of[owner_id], id(query)), []).append(owner_id)
        messages = {}
        for key, owners in groups.items():
            content = query_content(queries[owners[0]], scenario=self.scenario)
            if self.nodes is not None:
                content = for_owners(content, [self.number[o] for o in owners])
            messages[key] = _message(content, key[0], MESSAGE_TYPE)
        replies = self._send_and_receive(messages, stage)
        out: dict[str, Answered] = {}
        for (node, query), owners in groups.items():
            reply = replies.get((node, query))
            if self.nodes is None:  # one owner per node
                out[owners[0]] = _as_owner(owners[0], self._decode(node, reply, decode_reply))
                continue
            parts = _parts(reply)
            for owner_id in owners:
                number = self.number[owner_id]
                out[owner_id] = self._part(node, reply, parts, number, decode_reply)
        return {o: out[o] for o in queries}

    def _wait_for_nodes(self) -> list[int]:
        """The nodes up once `num_owners` are (or `nodes`), or at the deadline; says at once when
        some are missing (in simulation, fewer nodes than owners never catch up), then shows the
        waiting as progress."""
        wanted = self.nodes or self.num_owners
        deadline = time.monotonic() + self.wait_timeout
        shown = None
        while True:
            nodes = sorted(self.grid.get_node_ids())
            if len(nodes) >= wanted or time.monotonic() >= deadline:
                return nodes
            if shown is None:
                _log.warning(
                    "mycroft-fl: %d node(s) up but %d %s expected; waiting up to %g s for the rest",
                    len(nodes),
                    wanted,
                    "nodes" if self.nodes else "owners",
                    self.wait_timeout,
                )
            if self.progress and shown != len(nodes):
                self.progress("waiting for owners", len(nodes), wanted)
            shown = len(nodes)
            time.sleep(self.poll_interval)

    def _served(self, nodes: list[int]) -> dict[int, list[int]]:
        """The owners (by number) each node answers for when nodes are shared (simulation): owners
        k, k + len(nodes), ... for the k-th node; empty for one node per owner."""
        if self.nodes is None:
            return {}
        return {n: list(range(k, self.num_owners, len(nodes))) for k, n in enumerate(nodes)}

    def _send_and_receive(self, messages: dict, stage: str) -> dict:
        """Push the messages (at most `max_in_flight` awaiting replies at once) and pull replies
        until all are in or the reply timeout passes, showing progress; the replies keyed as their
        messages."""
        unsent = list(messages)
        key_of: dict = {}  # message id -> its key in `messages`
        pending: set[str] = set()
        replies: dict = {}
        deadline = time.monotonic() + self.reply_timeout
        while True:
            n = len(unsent) if self.max_in_flight is None else self.max_in_flight - len(pending)
            if n > 0 and unsent:
                batch, unsent = unsent[:n], unsent[n:]
                ids = list(self.grid.push_messages([messages[k] for k in batch]))
                key_of.update(zip(ids, batch))
                pending.update(ids)
            if not pending or time.monotonic() >= deadline:
                return replies
            pulled = list(self.grid.pull_messages(pending))
            for reply in pulled:
                mid = reply.metadata.reply_to_message_id
                if mid in pending:
                    pending.discard(mid)
                    replies[key_of[mid]] = reply
            if self.progress and pulled:
                self.progress(stage, len(replies), len(messages))
            if pending and not pulled:
                time.sleep(self.poll_interval)

    def _shared_results(
        self, served: dict[int, list[int]], replies: dict[int, Message], decode: Decoder
    ) -> dict[str, Decoded]:
        """Every named owner's part of its node's reply, in the owners' order."""
        out: dict[str, Decoded] = {}
        for node, owners in served.items():
            parts = _parts(replies.get(node))
            for owner in owners:
                owner_id = self.expected[owner]
                out[owner_id] = self._part(node, replies.get(node), parts, owner, decode)
                self.node_of[owner_id] = node
        return {o: out[o] for o in self.expected if o in out}

    def _node_results(
        self, nodes: list[int], replies: dict[int, Message], decode: Decoder
    ) -> dict[str, Decoded]:
        """Every node's reply under the owner id it gives; named owners that gave none are failed
        with the likeliest reason (a node that failed without naming its owner may be it); owners
        that were not named are left out, and said in `ignored`."""
        results: dict[str, Decoded] = {}
        anonymous: list[OwnerResult] = []  # failed without saying which owner they are
        for node in nodes:
            result = self._decode(node, replies.get(node), decode)
            if result.id == f"node-{node}" and isinstance(result, OwnerResult):
                anonymous.append(result)
            elif result.id in results:
                results[f"node-{node}"] = OwnerResult(
                    f"node-{node}",
                    status="rejected",
                    reason=f"owner id {result.id!r} already answered from another node",
                )
            elif self.expected and result.id not in self.number:
                self.ignored.append(f"node {node} answered as {result.id!r}, an owner not invited")
            else:
                results[result.id] = result
                self.node_of[result.id] = node
        missing = [o for o in self.expected if o not in results]
        if len(anonymous) == 1 and len(missing) == 1:  # only one owner it can be
            anonymous[0].id = missing.pop()
        results.update((r.id, r) for r in anonymous)
        never = f"never connected within {self.wait_timeout:g} s"
        if self.owners_of_scenario is not None:
            for owner_id in [o for o in missing if o not in self.owners_of_scenario]:
                missing.remove(owner_id)
                results[owner_id] = OwnerResult(
                    owner_id, status="failed", reason=f"not in the scenario {self.scenario}"
                )
        if anonymous:  # one of them may be this owner: say so, but report every owner missing
            named = ", ".join(r.id for r in anonymous)
            never = (
                f"no reply under this name: {named} failed without naming its owner, or it {never}"
            )
        for owner_id in missing:
            results[owner_id] = OwnerResult(owner_id, status="failed", reason=never)
        first = [o for o in self.expected if o in results]
        return {o: results[o] for o in first + [o for o in results if o not in first]}

    def _part(
        self,
        node: int,
        reply: Message | None,
        parts: dict[int, RecordDict],
        owner: int,
        decode: Decoder,
    ) -> Decoded:
        """Owner number `owner`'s part of a shared node's reply: one owner's malformed part
        concerns only that owner."""
        owner_id = self.expected[owner]
        if reply is None or reply.has_error():
            return _as_owner(owner_id, self._decode(node, reply, decode))
        if owner not in parts:
            return OwnerResult(owner_id, status="rejected", reason="reply has no part for it")
        return _as_owner(owner_id, decode(parts[owner], owner_id))

    def _decode(self, node: int, reply: Message | None, decode: Decoder) -> Decoded:
        """A node's reply decoded, or why there is none (reported as `node-<id>` when it does not
        say which owner it is)."""
        fallback = f"node-{node}"
        if reply is None:
            reason = f"no reply within {self.reply_timeout:g} s"
            return OwnerResult(fallback, status="failed", reason=reason)
        if reply.has_error():
            return OwnerResult(fallback, status="failed", reason=short_reason(reply.error.reason))
        return decode(reply.content, fallback)


#: What a decoder gives: a commitment or a reply as the engine takes them, or why there is none.
Decoded = Committed | Answered
Decoder = Callable[[RecordDict, str], Decoded]


def _message(content: RecordDict, node: int, message_type: str) -> Message:
    return Message(content, dst_node_id=node, message_type=message_type, group_id="mycroft")


def _parts(reply: Message | None) -> dict[int, RecordDict]:
    """A shared node's reply split by owner number (nothing when it failed or never came)."""
    return {} if reply is None or reply.has_error() else owner_parts(reply.content)


def _as_owner(owner_id: str, answered: Decoded) -> Decoded:
    """A reply reported under the owner it was asked of: a reply under another name is rejected,
    a failure keeps its reason."""
    if answered.id == owner_id:
        return answered
    if isinstance(answered, OwnerResult) and answered.status == "failed":
        return OwnerResult(owner_id, status="failed", reason=answered.reason)
    return OwnerResult(
        owner_id,
        status="rejected",
        reason=f"replied as {answered.id!r}",
        received=answered.received,
    )
