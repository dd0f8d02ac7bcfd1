"""The data owner as a Flower ClientApp: commits to its data (`query.commit`), then answers the
trainer's query (`query.select`) with its budgeted subset and the audit's rows, opened against that
commitment.

Where the owner's data comes from:
- a deployment: `flower-supernode ... --node-config 'data-path="owner.npz"'` (optionally
  `owner-id="clinic-a"`; by default the file's stem names the owner);
- the simulation engine: the scenario file named in the query, owner number `partition-id`, or the
  owners the query lists by number (`owners`): a simulated node may answer for several owners, each
  with its own id, data, budget and self-check, in one reply with every owner's records side by side.

An owner imports and runs only built-in models and embedders, unless its node config allows more:
`allow-code="pkg.mod:make_model,pkg.mod:make_embedder"` (or `"*"` for any). A simulated owner also
runs the code its scenario names: the scenario's author wrote both sides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp

from mycroft_fl.core.data import Dataset, load_npz
from mycroft_fl.core.errors import InputError
from mycroft_fl.flower.protocol import (
    commitment_content,
    error_content,
    owners_reply_content,
    reply_content,
)
from mycroft_fl.owner.code import ANY_CODE
from mycroft_fl.owner.holding import Holding

if TYPE_CHECKING:
    from mycroft_fl.scenarios.spec import Scenario

# In a deployment every message starts a ClientApp process: what only answering a query needs (torch,
# the model and selection code, simulated owners' scenarios) is imported where it is used, so that a
# commitment costs no more than reading the data and hashing it.

app = ClientApp()


@lru_cache(maxsize=4)
def _scenario(path: str, mtime: float) -> Scenario:
    """A parsed scenario, kept per process: simulated owners on one worker share its built data."""
    from mycroft_fl.scenarios.spec import load_scenario

    return load_scenario(path)


def allowed_code(node_config: dict) -> tuple[str, ...] | str:
    """The user code this node runs besides built-in models and embedders.

    Parameters
    ----------
    node_config : dict
        The SuperNode's node config; `allow-code` holds comma-separated "package.module:factory"
        names, or "*" for any.

    Returns
    -------
    tuple of str, or "*"
        The names allowed (none without `allow-code`), or "*".
    """
    text = str(node_config.get("allow-code", "")).strip()
    return ANY_CODE if text == ANY_CODE else tuple(n.strip() for n in text.split(",") if n.strip())


def owner_data(
    context: Context, scenario: str, n_classes: int, owner: int | None = None
) -> tuple[str, Dataset, str, tuple[str, ...]]:
    """This node's owner id, data, behaviour and the code its data's author names, from its node
    config (deployment: none) or the scenario (simulation, where owners may be scripted to cheat; see
    attacks.py): owner number `owner`, by default the node's `partition-id`."""
    node = context.node_config
    if "data-path" in node and owner is None:
        path = Path(str(node["data-path"]))
        data = load_npz(path, n_classes=n_classes)
        return str(node.get("owner-id", path.stem)), data, "honest", ()
    named = "owner number"
    if owner is None and "partition-id" in node:
        owner, named = int(node["partition-id"]), "partition-id"
    if owner is not None and scenario:
        sc = _scenario(scenario, Path(scenario).stat().st_mtime)
        if not 0 <= owner < len(sc.owners):
            raise InputError(f"{named} {owner} but the scenario has {len(sc.owners)} owners")
        spec = sc.owners[owner]
        return (
            spec.id,
            sc.owner_data(spec.id),
            spec.behaviour,
            (sc.trainer.model, sc.trainer.embedder),
        )
    raise InputError("no data: start the SuperNode with --node-config 'data-path=\"owner.npz\"'")


@app.query("commit")
def commit(msg: Message, context: Context) -> Message:
    """Commit to this owner's data (a hash of all of it, and its rows per class) before any query
    is seen; for every owner the message lists, when it lists them (simulation)."""
    return _each(msg, context, _commit)


@app.query("select")
def select(msg: Message, context: Context) -> Message:
    """Select at most the query's budget of this owner's samples and send only those, with the
    audit's rows, opened against its commitment; for every owner the query lists, when it lists
    them (simulation)."""
    return _each(msg, context, _answer)


def _each(msg: Message, context: Context, reply: Callable[..., RecordDict]) -> Message:
    """`reply` for this node's owner, or for each owner (by number) the message lists."""
    owners = msg.content["config"].get("owners")
    if owners is None:
        return Message(reply(msg.content, context), reply_to=msg)
    parts = {int(i): reply(msg.content, context, int(i)) for i in owners}
    return Message(owners_reply_content(parts), reply_to=msg)


def _owner_id(context: Context, owner: int | None) -> str:
    """What an owner is called when it fails before it knows its id."""
    if owner is not None:
        return f"owner-{owner}"
    return str(context.node_config.get("owner-id", f"node-{context.node_id}"))


def _commit(content: RecordDict, context: Context, owner: int | None = None) -> RecordDict:
    """One owner's commitment, or its error."""
    config = content["config"]
    owner_id = _owner_id(context, owner)
    try:
        n_classes = int(config["n_classes"])
        owner_id, data, _, _ = owner_data(
            context, str(config.get("scenario", "")), n_classes, owner
        )
        holding = Holding(data, n_classes)
    except Exception as exc:  # reported to the trainer with this owner's id; the run goes on
        return error_content(owner_id, f"{type(exc).__name__}: {exc}")
    return commitment_content(owner_id, holding.commitment, local_size=len(data))


def _answer(content: RecordDict, context: Context, owner: int | None = None) -> RecordDict:
    """One owner's reply to the query in `content`, or its error: owner number `owner` of the
    scenario, or this node's own owner."""
    from mycroft_fl.core.query import Query
    from mycroft_fl.owner.selectors import make_selector
    from mycroft_fl.trust.attacks import HONEST, respond
    from mycroft_fl.trust.replies import check_reply

    config = content["config"]
    owner_id = _owner_id(context, owner)
    try:
        query = Query.from_parts({k: v.numpy() for k, v in content["query"].items()}, dict(config))
        n_classes = query.model.n_classes
        owner_id, data, behaviour, named = owner_data(
            context, str(config.get("scenario", "")), n_classes, owner
        )
        allowed = allowed_code(context.node_config)
        start = time.perf_counter()
        sent = respond(
            query,
            Holding(data, n_classes),
            behaviour,
            seed=query.seed,
            allow_code=allowed if allowed == ANY_CODE else (*allowed, *named),
        )
        seconds = time.perf_counter() - start
        if behaviour == HONEST:  # an honest owner checks its own output before anything leaves it
            _, problem = check_reply(
                sent.x,
                sent.y,
                sent.positions,
                sample_shape=query.model.sample_shape,
                n_classes=n_classes,
                local_size=len(data),
                **make_selector(query.selector, **query.selector_params).reply_rules(
                    query.budget, query.hard_y
                ),
            )
            if problem:
                raise RuntimeError(f"selection produced an invalid subset: {problem}")
    except Exception as exc:  # reported to the trainer with this owner's id; the run goes on
        return error_content(owner_id, f"{type(exc).__name__}: {exc}")
    return reply_content(owner_id, query.selector, sent, local_size=len(data), selection_s=seconds)
