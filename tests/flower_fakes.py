"""Test doubles for Flower: hand-built messages and contexts, and an in-process Grid."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from flwr.app import Context, Error, Message, Metadata, RecordDict
from flwr.supercore.task_identity import TaskIdentity


def make_message(content: RecordDict, dst: int, message_type: str = "query.select") -> Message:
    """An instruction message as a SuperNode receives it."""
    md = Metadata(
        run_id=1,
        message_id=uuid.uuid4().hex,
        src_node_id=0,
        dst_node_id=dst,
        reply_to_message_id="",
        group_id="g",
        created_at=time.time(),
        ttl=3600.0,
        message_type=message_type,
    )
    return Message(content, metadata=md)


def make_context(node_id: int, node_config: dict) -> Context:
    return Context(
        run_id=1, node_id=node_id, node_config=node_config, state=RecordDict(), run_config={}
    )


Handler = Callable[[Message, Context], "Message | None"]


class FakeGrid:
    """The part of Flower's Grid that MycroftStrategy uses, answering in-process.

    `handlers[node]` answers a message (None = never replies, like an owner past the timeout); an
    exception becomes an error reply, as Flower's runtime does for a ClientApp that raises.
    """

    def __init__(self, handlers: dict[int, Handler], node_configs: dict[int, dict]):
        self.handlers = handlers
        self.contexts = {n: make_context(n, node_configs[n]) for n in handlers}
        self.sent: list[Message] = []
        self._replies: dict[str, Message] = {}

    def get_node_ids(self) -> list[int]:
        return list(self.handlers)

    def push_messages(self, messages) -> list[str]:
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            self.sent.append(msg)
            node = msg.metadata.dst_node_id
            try:
                reply = self.handlers[node](msg, self.contexts[node])
            except Exception as exc:
                reply = Message(Error(2, f"<class '{type(exc).__name__}'>:<'{exc}'>"), reply_to=msg)
            if reply is not None:
                self._replies[msg.metadata.message_id] = reply
            ids.append(msg.metadata.message_id)
        return ids

    def pull_messages(self, message_ids) -> list[Message]:
        return [self._replies.pop(m) for m in list(message_ids) if m in self._replies]


@pytest.fixture(autouse=True)
def task_identity():
    """Messages built by the strategy need a run id, as inside a real ServerApp (autouse in every
    module that imports this fixture)."""
    old = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = old
