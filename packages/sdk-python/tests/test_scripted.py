"""The SDK's side of the protocol, frame by frame, against a scripted relay: what a real relay
cannot be made to do on demand (answers out of order, a lost `accepted`, RELAY_UNAVAILABLE,
duplicate finals, v1.1 attempts and resume, a silent socket)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conftest import run
from relay_sdk import AgentClient, AppClient, Backoff, Heartbeat, RelayError, Reply, Restart
from scripted_relay import ScriptedRelay, accepted, reply, token

FAST = Backoff(initial=0.02, maximum=0.1)
TOKEN = "rlk_portal_secret"


def app(relay: ScriptedRelay, **kwargs: Any) -> AppClient:
    return AppClient(relay.url, TOKEN, backoff=FAST, **kwargs)


async def accepted_send(relay: ScriptedRelay, client: AppClient) -> tuple[Any, dict[str, Any], Any]:
    """Sends one event and has the scripted relay accept it: its socket, the frame, the handle."""
    sending = asyncio.ensure_future(client.send("athena", "t", {}))
    socket = await relay.accept()
    sent = await socket.next("event")
    await socket.send(accepted(sent))
    return socket, sent, await sending


async def dropped_after(relay: ScriptedRelay, client: AppClient, *frames: dict[str, Any]) -> tuple[Any, dict[str, Any], Any]:
    """An accepted event whose socket carries ``frames`` (all taken in: a ping answered after
    them), then drops: the client's next socket, the event frame, the handle."""
    s1, sent, handle = await accepted_send(relay, client)
    for frame in frames:
        await s1.send(frame)
    await s1.send({"type": "ping"})
    await s1.next("pong")
    s1.drop()
    return await relay.accept(), sent, handle


def test_answers_are_matched_by_ref_whatever_their_order() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            calls = asyncio.gather(client.discover(), client.send("athena", "t", {}), client.discover())
            s = await relay.accept()
            frames = [await s.next() for _ in range(3)]
            first, event, second = sorted(frames, key=lambda f: int(f["ref"].split("-")[1]))
            assert first["type"] == second["type"] == "discover" and event["type"] == "event"
            await s.send({"type": "agents", "agents": [{"id": "b"}], "ref": second["ref"]})
            await s.send(accepted(event))
            await s.send({"type": "agents", "agents": [{"id": "a"}], "ref": first["ref"]})
            a, handle, b = await calls
            assert (a, handle.event_id, b) == ([{"id": "a"}], "evt_1", [{"id": "b"}])
            await s.send(reply())
            await handle.reply()

    run(main)


def test_a_send_lost_with_its_socket_is_resent_with_the_same_idempotency_key() -> None:
    """Accepted on the new socket after it was written to the lost one: it may have been accepted
    there too, and its tokens went there, so its stream is resumed from the start; the final
    waits for that replay, and live tokens that come before the `resumed` are dropped (the
    replay brings them, in order)."""

    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            sending = asyncio.ensure_future(client.send("athena", "t", {"n": 1}))
            s1 = await relay.accept()
            sent = await s1.next("event")
            assert sent["idempotency_key"]
            s1.drop()
            s2 = await relay.accept()
            again = await s2.next("event")
            assert again == sent
            await s2.send(accepted(again))
            handle = await sending
            assert await s2.next() == {"type": "resume", "event_id": "evt_1", "ref": "sdk-resume:evt_1"}
            assert await s2.next() == {"type": "discover", "ref": "sdk-resume-barrier:1"}
            await s2.send(token("c", 2, 1))  # live, ahead of the replay
            await s2.send(reply(content="abc"))
            await s2.send({"type": "resumed", "event_id": "evt_1", "attempt": 1, "from_seq": 0, "ref": "sdk-resume:evt_1"})
            for frame in [token("a", 0, 1), token("b", 1, 1), token("c", 2, 1)]:
                await s2.send(frame)
            await s2.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:1"})
            assert (await handle.reply())["content"] == "abc"
            assert [t async for t in handle.tokens()] == ["a", "b", "c"]

    run(main)


def test_a_send_accepted_only_after_a_resend_on_a_new_socket_is_resumed_there() -> None:
    """The first socket may have taken the event (its `accepted` lost with it) and the agent's
    first tokens: the resend's `accepted` on the new socket is followed by a resume from the
    start, so the handle gets them from the replay."""

    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            sending = asyncio.ensure_future(client.send("athena", "t", {}))
            s1 = await relay.accept()
            sent = await s1.next("event")
            s1.drop()
            s2 = await relay.accept()
            assert await s2.next() == sent
            await s2.send(accepted(sent))
            handle = await sending
            assert await s2.next() == {"type": "resume", "event_id": "evt_1", "ref": "sdk-resume:evt_1"}
            assert await s2.next() == {"type": "discover", "ref": "sdk-resume-barrier:1"}
            await s2.send({"type": "resumed", "event_id": "evt_1", "attempt": 1, "from_seq": 0, "ref": "sdk-resume:evt_1"})
            await s2.send(token("a", 0, 1))
            await s2.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:1"})
            await s2.send(token("b", 1, 1))
            await s2.send(reply(content="ab"))
            assert [t async for t in handle.tokens()] == ["a", "b"]
            assert (await handle.reply())["content"] == "ab"

    run(main)


def test_an_accepted_event_without_its_final_is_resent_then_resumed_on_a_new_socket() -> None:
    """The resend (same key) moves the event's final to the new socket; the resume asks for the
    tokens after the last one held; the barrier's answer comes after every replay. A v1 relay
    (no `attempt`) refuses the resume: a restart then shows as seq going back to 0."""

    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            s2, sent, handle = await dropped_after(relay, client, token("a", 0))
            assert await s2.next() == sent
            assert await s2.next() == {"type": "resume", "event_id": "evt_1", "ref": "sdk-resume:evt_1"}
            assert await s2.next() == {"type": "discover", "ref": "sdk-resume-barrier:1"}
            await s2.send(accepted(sent))
            await s2.send({"type": "error", "code": "INVALID_MESSAGE", "message": "Unknown type", "ref": "sdk-resume:evt_1"})
            await s2.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:1"})
            await s2.send(token("b", 0))  # the agent started again (v1: seq back to 0)
            await s2.send(reply())
            assert [t async for t in handle.tokens()] == ["a", Restart(None), "b"]
            await handle.reply()

    run(main)


def test_RELAY_UNAVAILABLE_is_retried_with_the_same_frame() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            sending = asyncio.ensure_future(client.send("athena", "t", {}))
            s = await relay.accept()
            sent = await s.next("event")
            for _ in range(2):
                await s.send({"type": "error", "code": "RELAY_UNAVAILABLE", "message": "store down", "ref": sent["ref"]})
                assert await s.next("event") == sent
            assert not sending.done()
            await s.send(accepted(sent))
            handle = await sending
            await s.send(reply())
            await handle.reply()

    run(main)


def test_a_final_delivered_twice_settles_once_and_is_no_orphan() -> None:
    async def main() -> None:
        orphans: list[dict[str, Any]] = []
        async with ScriptedRelay() as relay, app(relay, on_orphan=orphans.append) as client:
            s, _, handle = await accepted_send(relay, client)
            await s.send(reply(content="first"))
            await s.send(reply(content="second"))
            await s.send({"type": "error", "code": "AGENT_TIMEOUT", "message": "late", "event_id": "evt_1"})
            await s.send(reply("evt_9", "someone else's"))
            await s.send(reply("evt_9", "someone else's"))
            assert (await handle.reply())["content"] == "first"
            await s.send({"type": "ping"})
            await s.next("pong")  # every frame before the ping has been handled
            assert [o["event_id"] for o in orphans] == ["evt_9"]

    run(main)


def test_a_final_that_overtakes_the_resends_accepted_is_claimed_by_its_send() -> None:
    """The `accepted` was lost with the socket; on the new one the relay's outbox delivers the
    final before it answers the resend. It belongs to the send, not to on_orphan."""

    async def main() -> None:
        orphans: list[dict[str, Any]] = []
        async with ScriptedRelay() as relay, app(relay, on_orphan=orphans.append) as client:
            sending = asyncio.ensure_future(client.send("athena", "t", {}))
            s1 = await relay.accept()
            sent = await s1.next("event")
            s1.drop()
            s2 = await relay.accept()
            await s2.next("event")
            await s2.send(reply(content="early"))
            await s2.send(accepted(sent))
            handle = await sending
            await s2.next("resume")
            barrier = await s2.next("discover")
            await s2.send({"type": "resumed", "event_id": "evt_1", "attempt": 1, "from_seq": 0, "ref": "sdk-resume:evt_1"})
            await s2.send(token("early", 0, 1))
            await s2.send({"type": "agents", "agents": [], "ref": barrier["ref"]})
            assert (await handle.reply())["content"] == "early"
            assert [t async for t in handle.tokens()] == ["early"]
            assert orphans == []

    run(main)


def test_tokens_and_final_that_came_before_the_accepted_on_the_same_socket_come_back_by_resume() -> None:
    """A first try refused after the relay recorded the event: it streamed, and ended, on this
    socket before the retry's `accepted` named it. The handle resumes, and the replay brings the
    tokens before the final."""

    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            sending = asyncio.ensure_future(client.send("athena", "t", {}))
            s = await relay.accept()
            sent = await s.next("event")
            await s.send(token("ah", 0, 1))
            await s.send(token("ead", 1, 1))
            await s.send(reply(content="ahead"))
            await s.send(accepted(sent))
            handle = await sending
            await s.next("resume")
            barrier = await s.next("discover")
            await s.send({"type": "resumed", "event_id": "evt_1", "attempt": 1, "from_seq": 0, "ref": "sdk-resume:evt_1"})
            await s.send(token("ah", 0, 1))
            await s.send(token("ead", 1, 1))
            await s.send({"type": "agents", "agents": [], "ref": barrier["ref"]})
            assert (await handle.reply())["content"] == "ahead"
            assert [t async for t in handle.tokens()] == ["ah", "ead"]

    run(main)


def test_tokens_of_a_new_attempt_follow_a_Restart_and_replayed_ones_are_dropped() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            s, _, handle = await accepted_send(relay, client)
            for frame in [token("a", 0, 1), token("b", 1, 1), token("b", 1, 1), token("x", 0, 2), token("x", 0, 2), token("y", 1, 2), reply()]:
                await s.send(frame)
            assert [t async for t in handle.tokens()] == ["a", "b", Restart(2), "x", "y"]

    run(main)


def test_a_reconnect_resumes_from_the_last_seq_held_and_holds_the_final_until_the_replay() -> None:
    """The relay's outbox may deliver the final as the socket opens, before the replay: the
    handle must not end before the replayed tokens are in."""

    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            s2, sent, handle = await dropped_after(relay, client, token("a", 0, 1), token("b", 1, 1))
            await s2.send(reply(content="abc"))  # from the outbox, before anything is answered
            assert await s2.next() == sent
            assert await s2.next() == {"type": "resume", "event_id": "evt_1", "attempt": 1, "after_seq": 1, "ref": "sdk-resume:evt_1"}
            assert await s2.next() == {"type": "discover", "ref": "sdk-resume-barrier:1"}
            await s2.send(accepted(sent))
            await s2.send({"type": "resumed", "event_id": "evt_1", "attempt": 1, "from_seq": 2, "ref": "sdk-resume:evt_1"})
            await s2.send(token("b", 1, 1))  # overlap: already held
            await s2.send(token("c", 2, 1))
            await s2.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:1"})
            assert [t async for t in handle.tokens()] == ["a", "b", "c"]
            assert (await handle.reply())["content"] == "abc"

    run(main)


def test_a_resume_into_a_newer_attempt_marks_the_Restart_and_drops_the_older_attempts_tokens() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            s2, sent, handle = await dropped_after(relay, client, token("a", 0, 1))
            assert await s2.next() == sent
            assert (await s2.next())["attempt"] == 1
            await s2.next("discover")
            await s2.send({"type": "resumed", "event_id": "evt_1", "attempt": 2, "from_seq": 0, "ref": "sdk-resume:evt_1"})
            await s2.send(token("x", 0, 2))
            await s2.send(token("b", 1, 1))  # a late token of the older attempt
            await s2.send(token("y", 1, 2))
            await s2.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:1"})
            await s2.send(reply(content="xy"))
            assert [t async for t in handle.tokens()] == ["a", Restart(2), "x", "y"]

    run(main)


def test_a_resume_past_retention_is_dropped_and_the_resend_brings_the_final() -> None:
    async def main() -> None:
        orphans: list[dict[str, Any]] = []
        async with ScriptedRelay() as relay, app(relay, on_orphan=orphans.append) as client:
            s2, sent, handle = await dropped_after(relay, client, token("a", 0, 1))
            assert await s2.next() == sent
            await s2.next("resume")
            await s2.next("discover")
            await s2.send(accepted(sent))
            await s2.send({"type": "error", "code": "UNKNOWN_EVENT", "message": "Unknown event", "event_id": "evt_1", "ref": "sdk-resume:evt_1"})
            await s2.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:1"})
            await s2.send(reply(content="ab"))
            assert (await handle.reply())["content"] == "ab"
            assert [t async for t in handle.tokens()] == ["a"]
            assert orphans == []

    run(main)


def test_a_final_held_for_a_replay_the_lost_socket_never_wrote_waits_for_the_next_sockets_replay() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            s2, sent, handle = await dropped_after(relay, client, token("a", 0, 1))
            assert await s2.next() == sent
            await s2.next("resume")
            await s2.next("discover")
            await s2.send(reply(content="ab"))  # held for the replay ...
            await s2.send({"type": "ping"})
            await s2.next("pong")
            s2.drop()  # ... which this socket never writes
            s3 = await relay.accept()
            assert await s3.next() == sent
            assert await s3.next() == {"type": "resume", "event_id": "evt_1", "attempt": 1, "after_seq": 0, "ref": "sdk-resume:evt_1"}
            assert await s3.next() == {"type": "discover", "ref": "sdk-resume-barrier:2"}
            assert not handle.done
            await s3.send({"type": "resumed", "event_id": "evt_1", "attempt": 1, "from_seq": 1, "ref": "sdk-resume:evt_1"})
            await s3.send(token("b", 1, 1))
            await s3.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:2"})
            assert (await handle.reply())["content"] == "ab"
            assert [t async for t in handle.tokens()] == ["a", "b"]

    run(main)


def test_a_resume_refused_with_RELAY_UNAVAILABLE_is_sent_again_and_the_final_waits_for_its_replay() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            s2, sent, handle = await dropped_after(relay, client, token("a", 0, 1))
            assert await s2.next() == sent
            resume = await s2.next("resume")
            await s2.next("discover")
            await s2.send(accepted(sent))
            await s2.send({"type": "error", "code": "RELAY_UNAVAILABLE", "message": "down", "event_id": "evt_1", "ref": resume["ref"]})
            await s2.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:1"})
            await s2.send(reply(content="ab"))  # held: its replay is still to come
            assert await s2.next() == resume
            assert await s2.next() == {"type": "discover", "ref": "sdk-resume-barrier:2"}
            assert not handle.done
            await s2.send({"type": "resumed", "event_id": "evt_1", "attempt": 1, "from_seq": 1, "ref": resume["ref"]})
            await s2.send(token("b", 1, 1))
            await s2.send({"type": "agents", "agents": [], "ref": "sdk-resume-barrier:2"})
            assert (await handle.reply())["content"] == "ab"
            assert [t async for t in handle.tokens()] == ["a", "b"]

    run(main)


def test_json_pings_are_answered_and_a_silent_socket_is_replaced() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay:
            async with AppClient(relay.url, TOKEN, backoff=FAST, heartbeat=Heartbeat(interval=0.2, timeout=0.3)) as client:
                s1 = await relay.accept()
                await s1.send({"type": "ping", "ref": "p1"})
                assert await s1.next() == {"type": "pong", "ref": "p1"}
                assert await s1.next() == {"type": "ping"}  # the client's own; this relay never answers
                await relay.accept()  # the client gave up on the silent socket and dialled again
                await asyncio.wait_for(s1.closed.wait(), 5)
                assert client.state in ("open", "connecting")

    run(main)


def test_close_while_reconnecting_leaves_nothing_behind() -> None:
    async def main() -> None:
        client = AppClient("ws://127.0.0.1:9", TOKEN, backoff=Backoff(initial=30))
        client.start()
        while client.state != "reconnecting":
            await asyncio.sleep(0.01)
        await asyncio.wait_for(client.close(), 5)
        assert client.state == "closed"

    run(main)


def test_agent_runs_a_redelivered_event_once_and_resends_a_refused_reply() -> None:
    async def main() -> None:
        runs: list[int] = []
        async with ScriptedRelay() as relay:
            agent = AgentClient(relay.url, "rla_athena_secret", backoff=FAST)

            @agent.on_event
            async def answer(event: dict[str, Any], reply_: Reply) -> str:
                runs.append(event["attempt"])
                await reply_.token("hi")
                return "hello"

            async with agent:
                s = await relay.accept()
                event = {"type": "event", "event_id": "evt_1", "agent_id": "athena", "app_id": "portal", "thread_id": "t", "session_key": "relay:athena:t", "payload": {}, "attempt": 1, "created_at": "2026-01-01T00:00:00.000Z"}
                await s.send(event)
                assert await s.next() == {"type": "token", "event_id": "evt_1", "token": "hi"}
                answered = await s.next()
                assert answered == {"type": "reply", "event_id": "evt_1", "content": "hello", "finish_reason": "stop"}
                await s.send({"type": "error", "code": "RELAY_UNAVAILABLE", "message": "store down", "event_id": "evt_1"})
                assert await s.next() == answered
                # a new attempt, streamed from seq 0: the tokens again, then the reply
                await s.send({**event, "attempt": 2})
                assert await s.next() == {"type": "token", "event_id": "evt_1", "token": "hi"}
                assert await s.next() == answered
        assert runs == [1]

    run(main)


def test_agent_streams_a_running_events_tokens_again_when_it_is_redelivered() -> None:
    """A redelivery starts a new attempt at seq 0 and the app drops the older attempt's text:
    the new socket gets every token streamed so far, then the rest, then the reply; one run."""

    async def main() -> None:
        runs: list[int] = []
        go = asyncio.Event()
        async with ScriptedRelay() as relay:
            agent = AgentClient(relay.url, "rla_athena_secret", backoff=FAST)

            @agent.on_event
            async def answer(event: dict[str, Any], reply_: Reply) -> str:
                runs.append(event["attempt"])
                await reply_.token("a")
                await reply_.token("b")
                await go.wait()
                await reply_.token("c")
                return "abc"

            async with agent:
                s1 = await relay.accept()
                event = {"type": "event", "event_id": "evt_1", "agent_id": "athena", "app_id": "portal", "thread_id": "t", "session_key": "relay:athena:t", "payload": {}, "attempt": 1, "created_at": "2026-01-01T00:00:00.000Z"}
                await s1.send(event)
                await s1.next("token")
                await s1.next("token")
                s1.drop()
                s2 = await relay.accept()
                await s2.send({**event, "attempt": 2})
                assert [(await s2.next())["token"] for _ in range(2)] == ["a", "b"]
                go.set()
                assert await s2.next() == {"type": "token", "event_id": "evt_1", "token": "c"}
                assert (await s2.next())["content"] == "abc"
        assert runs == [1]

    run(main)


def test_agent_runs_one_event_per_session_at_a_time() -> None:
    async def main() -> None:
        order: list[str] = []
        release = asyncio.Event()
        async with ScriptedRelay() as relay:
            agent = AgentClient(relay.url, "rla_athena_secret", concurrency=4, backoff=FAST)

            @agent.on_event
            async def answer(event: dict[str, Any], reply_: Reply) -> str:
                order.append(f"start {event['event_id']}")
                if event["event_id"] == "evt_1":
                    await release.wait()
                order.append(f"end {event['event_id']}")
                return "ok"

            async with agent:
                s = await relay.accept()
                base = {"type": "event", "agent_id": "athena", "app_id": "portal", "thread_id": "t", "payload": {}, "attempt": 1, "created_at": "2026-01-01T00:00:00.000Z"}
                for event_id, session in (("evt_1", "s1"), ("evt_2", "s1"), ("evt_3", "s2")):
                    await s.send({**base, "event_id": event_id, "session_key": session})
                assert (await s.next("reply"))["event_id"] == "evt_3"
                release.set()
                assert [(await s.next("reply"))["event_id"] for _ in range(2)] == ["evt_1", "evt_2"]
        assert order == ["start evt_1", "start evt_3", "end evt_3", "end evt_1", "start evt_2", "end evt_2"]

    run(main)


def test_close_1001_reconnects_and_1008_stops_with_UNAUTHORIZED() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            await client.opened()
            s1 = await relay.accept()
            await s1.ws.close(1001, "node shutting down")
            s2 = await relay.accept()  # going away: reconnect, to any node
            await s2.ws.close(1008, "token revoked")
            while client.state != "closed":
                await asyncio.sleep(0.01)
            with pytest.raises(RelayError) as raised:
                await client.discover()
            assert raised.value.code == "UNAUTHORIZED" and "1008 token revoked" in raised.value.message
            assert relay.count == 2

    run(main)


def test_a_send_given_up_by_its_caller_is_not_sent_again() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            sending = asyncio.ensure_future(client.send("athena", "t", {}))
            s1 = await relay.accept()
            await s1.next("event")
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            s1.drop()
            s2 = await relay.accept()
            asking = asyncio.ensure_future(client.discover())
            assert (await s2.next())["type"] == "discover"  # and no event before it
            asking.cancel()
            await asyncio.gather(asking, return_exceptions=True)

    run(main)


def test_frames_outside_the_protocol_are_logged_and_the_connection_carries_on() -> None:
    async def main() -> None:
        async with ScriptedRelay() as relay, app(relay) as client:
            await client.opened()
            s = await relay.accept()
            await s.ws.send("not json")
            await s.send({"no": "type"})
            await s.send({"type": "reply"})  # no event_id
            asking = asyncio.ensure_future(client.discover())
            frame = await s.next("discover")
            await s.send({"type": "agents", "agents": [], "ref": frame["ref"]})
            assert await asking == []
            assert relay.count == 1

    run(main)
