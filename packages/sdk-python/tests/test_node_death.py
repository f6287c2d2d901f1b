"""A node SIGKILLed mid-stream, on three Redis nodes behind the balancer: the SDK reconnects
to a surviving node, resumes the stream there, and the app gets every token once and one final
with the whole answer, from one event."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

from conftest import run
from relay_harness import Relay, backends
from relay_sdk import AgentClient, AppClient, Reply, Restart
from test_relay import FAST, thread, wait_online

pytestmark = pytest.mark.skipif("redis-3-nodes" not in backends(), reason="RELAY_TEST_BACKENDS leaves out redis-3-nodes")

#: Short, so the survivors notice the dead node (and hand its agents' events back) quickly.
NODE_TTL_MS = 1500


@pytest.fixture
def cluster() -> Iterator[Relay]:
    relay = Relay("redis-3-nodes", {"RELAY_NODE_TTL_MS": str(NODE_TTL_MS)})
    yield relay
    relay.stop()  # one node is dead: the survivors' exit codes are not this test's subject


async def until(check: Any, what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.05)


async def connected_apart(cluster: Relay, app: AppClient, agent: AgentClient) -> tuple[int, int]:
    """Opens the app, then the agent (one after the other, to know which connection is whose),
    and returns the node each landed on (never the same one: the balancer takes turns)."""
    await app.opened()
    app_node = cluster.node_of_last_connection()
    await agent.opened()
    agent_node = cluster.node_of_last_connection()
    assert app_node != agent_node
    await wait_online(app, "athena")
    return app_node, agent_node


def test_the_agents_node_dies_mid_stream(cluster: Relay) -> None:
    """The event comes back to the agent (attempt 2) on another node; the SDK keeps the running
    handler (no second run), streams its tokens so far again on the new socket, then the rest;
    the app sees a Restart(2), then the whole answer, then the one final reply."""

    async def main() -> None:
        agent = AgentClient(cluster.url, cluster.tokens["athena"], backoff=FAST)
        runs: list[str] = []
        go = asyncio.Event()

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> str:
            runs.append(event["event_id"])
            await reply.token("a ")
            await reply.token("b ")
            await go.wait()
            await reply.token("c ")
            await reply.token("d")
            return "a b c d"

        app = AppClient(cluster.url, cluster.tokens["portal"], backoff=FAST)
        _, agent_node = await connected_apart(cluster, app, agent)
        async with agent, app:
            handle = await app.send("athena", thread(), {"q": "kill"})
            stream = handle.tokens()
            assert [await stream.__anext__(), await stream.__anext__()] == ["a ", "b "]

            cluster.kill(agent_node)
            # The relay hands the event back once it notices the node is dead (attempt 2); the
            # SDK then moves the running handler's event to its new socket.
            job = lambda: agent._jobs.get(handle.event_id)  # noqa: E731
            await until(lambda: agent._connection.epoch >= 2 and job() is not None and job().epoch == agent._connection.epoch, "redelivered")
            go.set()

            rest = [t async for t in stream]
            reply = await handle.reply()
        assert rest == [Restart(2), "a ", "b ", "c ", "d"]
        assert reply["content"] == "a b c d" and reply["event_id"] == handle.event_id
        assert runs == [handle.event_id]

    run(main, timeout=90)


def test_the_apps_node_dies_mid_stream(cluster: Relay) -> None:
    """The app reconnects to another node, resends the event with its idempotency key (the relay
    answers with the same event: the agent never sees a second one) and resumes its stream:
    tokens the agent sent while the app was away are replayed, so the app's tokens spell the
    whole answer once, and the final reply reaches it once."""

    async def main() -> None:
        agent = AgentClient(cluster.url, cluster.tokens["athena"], backoff=FAST)
        runs: list[dict[str, Any]] = []
        away, back = asyncio.Event(), asyncio.Event()
        orphans: list[dict[str, Any]] = []

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> str:
            runs.append(event)
            await reply.token("a ")
            await away.wait()
            await reply.token("b ")  # most likely while the app is away: relayed to a dead node
            await back.wait()
            await reply.token("c")
            return "a b c"

        app = AppClient(cluster.url, cluster.tokens["portal"], backoff=FAST, on_orphan=orphans.append)
        app_node, _ = await connected_apart(cluster, app, agent)
        async with agent, app:
            handle = await app.send("athena", thread(), {"q": "kill"})
            stream = handle.tokens()
            assert await stream.__anext__() == "a "

            cluster.kill(app_node)
            away.set()
            await until(lambda: app._connection.epoch >= 2 and app.state == "open", "app reconnected")
            back.set()

            rest = [t async for t in stream]
            reply = await handle.reply()
        assert reply["content"] == "a b c" and reply["event_id"] == handle.event_id
        assert rest == ["b ", "c"]
        assert [(e["event_id"], e["attempt"]) for e in runs] == [(handle.event_id, 1)]
        assert orphans == []

    run(main, timeout=90)
