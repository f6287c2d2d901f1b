"""Redis goes away under a real node: the relay answers RELAY_UNAVAILABLE (it can record
nothing) and the SDK retries, the app's event and the agent's reply alike, until Redis is back."""

from __future__ import annotations

import asyncio
import signal
import urllib.request
import uuid
from typing import Any, Iterator

import pytest

from conftest import run
from relay_harness import Relay, wants_redis
from relay_sdk import AgentClient, AppClient, Reply
from test_relay import FAST, wait_online

pytestmark = pytest.mark.skipif(not wants_redis(), reason="RELAY_TEST_BACKENDS names no Redis backend")


@pytest.fixture
def relay() -> Iterator[Relay]:
    started = Relay("redis")
    yield started
    assert started.stop() == [0]


def ready(relay: Relay) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{relay.nodes[0].port}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


async def until(check: Any, what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(check):
        if loop.time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.05)


def test_an_event_and_a_reply_refused_during_an_outage_go_through_after_it(relay: Relay) -> None:
    async def main() -> None:
        assert relay.redis is not None
        agent = AgentClient(relay.url, relay.tokens["athena"], backoff=FAST)
        go = asyncio.Event()
        runs: list[str] = []

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> str:
            runs.append(event["event_id"])
            if event["payload"] == "first":
                await go.wait()
            return f"answer to {event['payload']}"

        async with agent, AppClient(relay.url, relay.tokens["portal"], backoff=FAST) as app:
            await wait_online(app, "athena")
            first = await app.send("athena", f"portal:outage:{uuid.uuid4().hex[:8]}", "first")
            while not runs:
                await asyncio.sleep(0.01)

            relay.redis.stop(signal.SIGKILL)
            await until(lambda: not ready(relay), "the node notices Redis is gone")
            go.set()  # the reply is refused with RELAY_UNAVAILABLE: the SDK keeps sending it
            second = asyncio.ensure_future(app.send("athena", f"portal:outage:{uuid.uuid4().hex[:8]}", "second"))
            await asyncio.sleep(1.5)  # a few refusals and retries of both
            assert not second.done() and not first.done

            relay.redis.start()
            assert (await first.reply())["content"] == "answer to first"
            handle = await second
            assert (await handle.reply())["content"] == "answer to second"
        assert runs == [first.event_id, handle.event_id]

    run(main, timeout=90)
