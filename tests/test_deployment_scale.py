"""A real Flower deployment at scale on loopback: one SuperLink keeping its state in SQLite (`--database`),
twenty SuperNodes (one per owner file), `flwr run` of the shipped apps with `max-in-flight`.

Why `max-in-flight`: every query starts a fresh `flwr-clientapp` process on its SuperNode, which
imports torch (about 3 CPU-seconds). Twenty at once on two cores starved the SuperLink, whose SQLite
writes then waited past Flower 1.41's 5 s busy timeout (`database is locked`): a SuperNode does not
retry a failed push, and a reply stored without its objects held the ServerApp's pull for the
180 s object-push session. With four queries out at once the same twenty owners all answer.
"""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace

import pytest
from flower_procs import loopback_owners_run

from mycroft_fl.core.errors import InputError
from mycroft_fl.flower.strategy import MycroftStrategy
from mycroft_fl.flower.transport import FlowerOwners

N_OWNERS = 20
MAX_IN_FLIGHT = 4


class WindowGrid:
    """Pushes and pulls as Flower's Grid does, answering each message two pulls after it was pushed;
    records how many messages awaited a reply at once."""

    def __init__(self, silent: frozenset = frozenset()):
        self.silent = silent  # messages (by value) that are never answered
        self.age: dict[str, int] = {}
        self.value: dict[str, str] = {}
        self.pushed: list[list[str]] = []
        self.most_in_flight = 0

    def push_messages(self, messages):
        ids = [f"id-{m}" for m in messages]
        self.pushed.append(list(messages))
        for i, m in zip(ids, messages):
            self.age[i], self.value[i] = 0, m
        self.most_in_flight = max(self.most_in_flight, len(self.age))
        return iter(ids)  # an iterable, as Flower's Grid.push_messages promises

    def pull_messages(self, message_ids) -> list:
        out = []
        for i in list(message_ids):
            self.age[i] += 1
            if self.age[i] >= 2 and self.value[i] not in self.silent:
                del self.age[i]
                out.append(SimpleNamespace(metadata=SimpleNamespace(reply_to_message_id=i)))
        return out


def window(grid, max_in_flight: int | None, timeout: float) -> FlowerOwners:
    """The Flower transport on `grid`, polling fast."""
    return FlowerOwners(
        grid, owners=1, max_in_flight=max_in_flight, reply_timeout=timeout, poll_interval=0.001
    )


@pytest.mark.parametrize("limit", [None, 1, 4, 25])
def test_at_most_max_in_flight_queries_out_at_once(limit):
    messages = {node: f"query-{node}" for node in range(10, 30)}
    grid = WindowGrid()
    replies = window(grid, limit, 10.0)._send_and_receive(messages, "querying owners")
    assert sorted(replies) == sorted(messages)  # every reply, keyed by its message's key
    assert all(r.metadata.reply_to_message_id == f"id-query-{k}" for k, r in replies.items())
    assert grid.most_in_flight == min(limit or len(messages), len(messages))
    assert [m for batch in grid.pushed for m in batch] == list(
        messages.values()
    )  # each once, in order
    if limit is None:
        assert len(grid.pushed) == 1  # all at once, as before the option


def test_max_in_flight_gives_up_at_the_timeout_with_what_arrived():
    messages = {node: f"query-{node}" for node in range(8)}
    grid = WindowGrid(silent=frozenset({"query-0", "query-1"}))  # two never answer
    start = time.monotonic()
    replies = window(grid, 2, 0.3)._send_and_receive(messages, "querying owners")
    assert 0.3 <= time.monotonic() - start < 5
    assert replies == {}  # the two silent ones hold both places; the others were never sent
    assert grid.pushed == [["query-0", "query-1"]]


def test_max_in_flight_must_be_a_positive_integer():
    from mycroft_fl.scenarios.spec import load_scenario

    data = load_scenario("digits").trainer_data()
    assert MycroftStrategy(data, max_in_flight=3).max_in_flight == 3
    for bad in (0, -1, 2.5, "4"):
        with pytest.raises(InputError, match="max_in_flight"):
            MycroftStrategy(data, max_in_flight=bad)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_twenty_supernodes_on_loopback_with_a_sqlite_superlink(tmp_path):
    run = loopback_owners_run(
        tmp_path,
        N_OWNERS,
        max_in_flight=MAX_IN_FLIGHT,
        run_timeout=210,
        reply_timeout=170,
    )
    print(
        f"{N_OWNERS} SuperNodes, max-in-flight {MAX_IN_FLIGHT}: {run.seconds:.1f} s; "
        f"`database is locked` {run.locked} time(s); timings "
        f"{run.report and run.report.get('timings')}"
    )
    assert run.rc is not None, "flwr run did not finish within 210 s\n" + run.logs
    assert run.rc == 0, run.logs
    assert not run.survivors, f"processes survived SIGTERM/SIGKILL: {run.survivors}"
    assert not run.leftovers, f"processes of this test still running after stop: {run.leftovers}"
    assert run.report is not None, "no report.json\n" + run.logs

    by_id = {o["id"]: o for o in run.report["owners"]}
    assert sorted(by_id) == sorted(run.owners), (sorted(by_id), run.logs)  # no node-... stand-ins
    failed = {o: r["status"] for o, r in by_id.items() if r["status"] != "ok"}
    assert not failed, f"owners that did not answer: {failed}\n" + run.logs
    assert all(0 <= r["shared"] <= run.report["budget"] for r in by_id.values()), by_id
    # owners holding the hard classes 8 and 9 (even-numbered) share some and help the trainer more
    # than the others, who hold none
    hard = {o: r for o, r in by_id.items() if int(o[-2:]) % 2 == 0}
    plain = {o: r for o, r in by_id.items() if int(o[-2:]) % 2 == 1}
    assert all(r["shared"] > 0 for r in hard.values()), hard
    assert statistics.mean(r["utility"] for r in hard.values()) > statistics.mean(
        r["utility"] for r in plain.values()
    ), by_id
