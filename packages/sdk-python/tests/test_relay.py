"""AppClient and AgentClient against real gateway processes (memory, and three Redis nodes
behind a balancer): streaming, errors, limits, idempotency, cancellation, clean close."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from conftest import run
from relay_harness import Relay
from relay_sdk import AgentClient, AppClient, Backoff, RelayError, Reply, Restart

FAST = Backoff(initial=0.05, maximum=0.5)
WORDS = ["Hel", "lo ", "wor", "ld"]


def thread() -> str:
    return f"portal:task-{uuid.uuid4().hex[:8]}:c-1"


def app_client(relay: Relay, principal: str = "portal", **kwargs: Any) -> AppClient:
    return AppClient(relay.url, relay.tokens[principal], backoff=FAST, **kwargs)


def agent_client(relay: Relay, principal: str = "athena", **kwargs: Any) -> AgentClient:
    return AgentClient(relay.url, relay.tokens[principal], backoff=FAST, **kwargs)


async def wait_online(app: AppClient, agent_id: str) -> None:
    for _ in range(200):
        if any(a["id"] == agent_id and a["status"] == "online" for a in await app.discover()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{agent_id} never online")


def test_streams_tokens_and_the_reply(relay: Relay) -> None:
    async def main() -> None:
        agent = agent_client(relay)
        seen: list[dict[str, Any]] = []

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> str:
            seen.append(event)
            for word in WORDS:
                await reply.token(word)
            return "".join(WORDS)

        runner = asyncio.ensure_future(agent.run())
        async with app_client(relay) as app:
            await wait_online(app, "athena")
            agents = {a["id"]: a for a in await app.discover()}
            assert set(agents) == {"athena", "klyve"} and agents["athena"]["name"] == "Athena"
            handle = await app.send("athena", "portal:task-1:c-9", {"event": "comment.mention", "n": "ü"})
            assert handle.event_id.startswith("evt_")
            assert handle.accepted["session_key"] == "relay:athena:portal:task-1"
            tokens = [t async for t in handle.tokens()]
            reply = await handle.reply()
        assert tokens == WORDS
        assert [t async for t in handle.tokens()] == WORDS  # a second reader sees them all too
        assert reply["content"] == "Hello world" and reply["finish_reason"] == "stop"
        assert reply["payload"] == {"event": "comment.mention", "n": "ü"}
        assert [e["event_id"] for e in seen] == [handle.event_id] and seen[0]["attempt"] == 1
        await agent.close()
        await runner  # run() returns after close()

    run(main)


def test_a_handler_that_raises_answers_finish_reason_error(relay: Relay) -> None:
    async def main() -> None:
        agent = agent_client(relay)

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> str:
            raise ValueError("model offline")

        async with agent, app_client(relay) as app:
            await wait_online(app, "athena")
            reply = await (await app.send("athena", thread(), "x")).reply()
        assert (reply["finish_reason"], reply["error"], reply["content"]) == ("error", "model offline", None)

    run(main)


def test_cancel_sets_reply_cancelled_and_ends_with_CANCELLED(relay: Relay) -> None:
    async def main() -> None:
        agent = agent_client(relay)
        started, stopped = asyncio.Event(), asyncio.Event()

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> None:
            await reply.token("thinking")
            started.set()
            await reply.cancelled.wait()
            stopped.set()

        async with agent, app_client(relay) as app:
            await wait_online(app, "athena")
            handle = await app.send("athena", thread(), {"q": 1})
            await started.wait()
            assert await app.cancel(handle.event_id) is True
            with pytest.raises(RelayError) as raised:
                await handle.reply()
            assert raised.value.code == "CANCELLED" and not raised.value.retryable
            await asyncio.wait_for(stopped.wait(), 10)
            assert await handle.cancel() is False  # already ended

    run(main)


def test_refusals_raise_RelayError_with_the_protocol_code(relay: Relay) -> None:
    async def main() -> None:
        async with app_client(relay, "flow") as app:
            with pytest.raises(RelayError) as denied:
                await app.send("klyve", thread(), {})
            assert (denied.value.code, denied.value.retryable) == ("ALLOWLIST_DENIED", False)
            with pytest.raises(RelayError) as missing:
                await app.send("nobody", thread(), {})
            assert missing.value.code == "AGENT_NOT_FOUND"
            with pytest.raises(RelayError) as invalid:
                await app.send("athena", "bad thread id!", {})
            assert invalid.value.code == "INVALID_MESSAGE" and "thread_id" in invalid.value.message

    run(main)


def test_payload_size_is_checked_as_the_relay_counts_it(relay: Relay) -> None:
    """64,000 bytes of UTF-8 JSON pass (the relay accepts them); one more is refused before
    sending. 'é' is two bytes in UTF-8 and must not be counted as an escape (\\u00e9)."""

    async def main() -> None:
        async with app_client(relay) as app:
            fits = "é" * ((64_000 - 2) // 2)  # the quotes are the other 2 bytes
            handle = await app.send("athena", thread(), fits, ttl_ms=60_000)
            assert handle.event_id.startswith("evt_")
            with pytest.raises(RelayError) as raised:
                await app.send("athena", thread(), fits + "e")
            assert raised.value.code == "PAYLOAD_TOO_LARGE" and "64001 bytes" in raised.value.message
            assert await app.cancel(handle.event_id) is True

    run(main)


def test_the_same_idempotency_key_never_makes_a_second_event(relay: Relay) -> None:
    async def main() -> None:
        async with app_client(relay) as first, app_client(relay) as second:
            key = f"comment-{uuid.uuid4().hex}"
            t = thread()
            a = await first.send("klyve", t, {"n": 1}, ttl_ms=60_000, idempotency_key=key)
            b = await second.send("klyve", t, {"n": 1}, ttl_ms=60_000, idempotency_key=key)
            c = await first.send("klyve", t, {"n": 1}, ttl_ms=60_000)
            assert a.event_id == b.event_id != c.event_id
            # The resend moved the event's final to the second client: it sees the CANCELLED.
            assert await second.cancel(a.event_id) is True
            assert await first.cancel(c.event_id) is True

    run(main)


def test_a_refused_token_stops_the_clients_with_UNAUTHORIZED(relay: Relay) -> None:
    async def main() -> None:
        async with AppClient(relay.url, "rlk_portal_not-a-real-token", backoff=FAST) as app:
            with pytest.raises(RelayError) as raised:
                await app.discover()
            assert raised.value.code == "UNAUTHORIZED" and "401" in raised.value.message
            assert app.state == "closed"
        agent = AgentClient(relay.url, "rla_athena_not-a-real-token", backoff=FAST)
        with pytest.raises(RelayError) as refused:
            await agent.run()
        assert refused.value.code == "UNAUTHORIZED"
        await agent.close()

    run(main)


def test_close_leaves_no_task_or_socket_and_fails_what_waits(relay: Relay) -> None:
    """run() checks that no task is left; the handle's reply raises CLOSED."""

    async def main() -> None:
        agent = agent_client(relay)
        entered = asyncio.Event()

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> None:
            entered.set()
            await asyncio.sleep(3600)  # ignores reply.cancelled: close() must still end it

        app = app_client(relay)
        app.start()
        agent.start()
        await wait_online(app, "athena")
        handle = await app.send("athena", thread(), {})
        await entered.wait()
        await asyncio.wait_for(asyncio.gather(app.close(), agent.close()), 15)
        with pytest.raises(RelayError) as raised:
            await handle.reply()
        assert raised.value.code == "CLOSED"
        assert app._connection._socket is None and agent._connection._socket is None

    run(main)


def test_tokens_restart_marks_are_not_invented_for_one_delivery(relay: Relay) -> None:
    async def main() -> None:
        agent = agent_client(relay)

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> str:
            for i in range(30):
                await reply.token(str(i % 10))
            return "done"

        async with agent, app_client(relay) as app:
            await wait_online(app, "athena")
            handle = await app.send("athena", thread(), {})
            tokens = [t async for t in handle.tokens()]
        assert not any(isinstance(t, Restart) for t in tokens)
        assert "".join(t for t in tokens if isinstance(t, str)) == "0123456789" * 3

    run(main)


def test_a_reconnect_loses_no_token(relay: Relay) -> None:
    """The app's socket drops (the node stays up) and the agent answers while the app is away:
    the relay records those tokens but has nowhere to relay them. On the new socket the SDK
    resumes the stream, so the tokens spell the whole answer, each once, in order."""

    async def main() -> None:
        agent = agent_client(relay)
        away, answered = asyncio.Event(), asyncio.Event()

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> str:
            await reply.token("a ")
            await away.wait()
            for word in ["b ", "c ", "d"]:
                await reply.token(word)
            answered.set()
            return "a b c d"

        # Away for a second: long enough for the agent's answer to reach the relay first.
        app = AppClient(relay.url, relay.tokens["portal"], backoff=Backoff(initial=1.0, maximum=1.0, jitter=0.0))
        async with agent, app:
            await wait_online(app, "athena")
            handle = await app.send("athena", thread(), {})
            stream = handle.tokens()
            assert await stream.__anext__() == "a "
            epoch = app._connection.epoch
            await app._connection._socket.close(4000, "the test drops the app's socket")
            away.set()
            await answered.wait()
            rest = [t async for t in stream]
            reply = await handle.reply()
            assert app._connection.epoch > epoch  # it did reconnect
        assert rest == ["b ", "c ", "d"]
        assert reply["content"] == "a b c d"

    run(main)


def test_a_send_whose_accepted_is_lost_with_its_socket_loses_no_token(relay: Relay) -> None:
    """The relay accepts the event but the socket drops before the app reads `accepted` (the
    test drops it there), and the agent answers while the app is away. The resend on the new
    socket is answered with the same event; its tokens went nowhere meanwhile, so the SDK resumes
    the stream from its first token: the tokens spell the whole answer, each once, in order."""

    async def main() -> None:
        agent = agent_client(relay)
        streamed = asyncio.Event()
        back = asyncio.Event()

        @agent.on_event
        async def answer(event: dict[str, Any], reply: Reply) -> str:
            for word in ["a ", "b "]:
                await reply.token(word)
            streamed.set()
            await back.wait()
            await reply.token("c")
            return "a b c"

        # Away for a second: long enough for the agent's first tokens to reach the relay first.
        app = AppClient(relay.url, relay.tokens["portal"], backoff=Backoff(initial=1.0, maximum=1.0, jitter=0.0))
        deliver = app._connection._on_frame
        lost: list[dict[str, Any]] = []

        async def lose_the_first_accepted(frame: dict[str, Any]) -> None:
            if frame["type"] == "accepted" and not lost:
                lost.append(frame)
                await app._connection._socket.close(4000, "the test drops the app's socket")
                return
            await deliver(frame)

        app._connection._on_frame = lose_the_first_accepted
        async with agent, app:
            await wait_online(app, "athena")
            sending = asyncio.ensure_future(app.send("athena", thread(), {}))
            await streamed.wait()
            handle = await sending
            back.set()
            tokens = [t async for t in handle.tokens()]
            reply = await handle.reply()
            assert app._connection.epoch >= 2  # it did reconnect
        assert handle.event_id == lost[0]["event_id"]
        assert tokens == ["a ", "b ", "c"]
        assert reply["content"] == "a b c"

    run(main)
