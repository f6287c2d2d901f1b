"""An agent's connection to Relay: receive events, answer them."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

from .agent_reply import Reply
from .backoff import Backoff
from .connection import Connection, Heartbeat, State
from .errors import RelayError
from .recent import RecentDict

log = logging.getLogger("relay_sdk")

Handler = Callable[[dict[str, Any], Reply], Awaitable[Any]]

#: Replies remembered to answer a redelivery of an event already answered.
REMEMBERED_REPLIES = 1_000
#: A reply the relay could not record (RELAY_UNAVAILABLE) is sent again after about this long.
REPLY_RETRY_S = 1.0
#: How long ``close()`` lets handlers finish after setting their ``cancelled`` before cancelling
#: their tasks.
CLOSE_GRACE_S = 5.0


@dataclass
class _Job:
    event: dict[str, Any]
    #: The socket (epoch) that holds the event now: tokens and the reply go out only on it.
    epoch: int
    reply: Reply
    #: Every token the handler has streamed, sent or not: a redelivery starts a new attempt at
    #: seq 0, and the app drops the older attempt's text, so the new one carries them again.
    tokens: list[str] = field(default_factory=list)
    task: Optional["asyncio.Task[None]"] = field(default=None, repr=False)


class AgentClient:
    """An agent (``rla_…`` token) connected to Relay.

    Register the handler with ``@agent.on_event``; ``await agent.run()`` connects and serves
    until ``await agent.close()`` (or raises ``RelayError`` ``UNAUTHORIZED`` if the token is
    refused). The handler gets the relay's ``event`` frame (a dict) and a ``Reply``; it streams
    with ``await reply.token(text)`` and returns the answer as a string (or calls
    ``reply.done()``). If it raises, the event is answered with ``finish_reason: "error"`` and
    the exception's message, unless it was cancelled.

    Guarantees:

    - Up to ``concurrency`` handlers run at once; events of one ``session_key`` run one at a
      time, in the order the relay delivered them.
    - Each event runs once per client however often the relay delivers it (delivery is at least
      once): a redelivery of an event still running moves it to the new socket, which gets the
      tokens streamed so far again (the new attempt's stream spells the whole answer), then the
      rest and the reply; one of an event already answered gets the same tokens and reply again.
    - A reply the relay could not record (``RELAY_UNAVAILABLE``) is sent again after a pause.
    - Reconnects with exponential backoff and jitter, answers the relay's JSON pings and sends
      its own; a refused token stops it.
    - ``close()`` sets every running handler's ``reply.cancelled`` (their events go back to the
      relay for redelivery), closes the socket, and returns once no task or socket is left.
    """

    def __init__(
        self,
        url: str,
        token: str,
        concurrency: int = 4,
        *,
        backoff: Backoff = Backoff(),
        heartbeat: Optional[Heartbeat] = Heartbeat(),
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._connection = Connection(
            "agent",
            url,
            token,
            on_open=self._on_open,
            on_frame=self._on_frame,
            on_closed=self._on_closed,
            on_lost=self._on_lost,
            backoff=backoff,
            heartbeat=heartbeat,
            rand=rand,
        )
        self._concurrency = max(1, concurrency)
        self._rand = rand
        self._handler: Optional[Handler] = None
        self._jobs: dict[str, _Job] = {}
        self._waiting: list[_Job] = []
        self._busy_sessions: set[str] = set()
        #: Answered events: the tokens streamed and the reply frame, sent again on a redelivery.
        self._answered: RecentDict[str, tuple[list[str], str]] = RecentDict(REMEMBERED_REPLIES)
        self._timers: set[asyncio.TimerHandle] = set()
        self._opened: Optional[asyncio.Future[None]] = None
        self._stopped: Optional[asyncio.Future[None]] = None

    def on_event(self, handler: Handler) -> Handler:
        """Sets the handler (a decorator; replaces any earlier one). Events that arrive before
        there is a handler wait."""
        self._handler = handler
        self._pump()
        return handler

    @property
    def state(self) -> State:
        return self._connection.state

    def start(self) -> None:
        """Starts connecting in the background (``run()`` does it too)."""
        if self._opened is None:
            loop = asyncio.get_running_loop()
            self._opened, self._stopped = loop.create_future(), loop.create_future()
            for f in (self._opened, self._stopped):
                f.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._connection.start()

    async def opened(self) -> None:
        """Returns once the first socket is open; raises if the client stops before."""
        self.start()
        assert self._opened is not None
        await asyncio.shield(self._opened)

    async def run(self) -> None:
        """Connects and serves events until ``close()``; raises ``RelayError`` if the relay
        refuses the token."""
        self.start()
        assert self._stopped is not None
        await asyncio.shield(self._stopped)

    async def __aenter__(self) -> "AgentClient":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._waiting.clear()
        running = [job.task for job in self._jobs.values() if job.task is not None]
        for job in self._jobs.values():
            job.reply.cancelled.set()
        await self._connection.close()
        if running:
            _, late = await asyncio.wait(running, timeout=CLOSE_GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # ── sending on behalf of a Reply ───────────────────────────────────────

    async def _send_token(self, event_id: str, text: str) -> None:
        job = self._jobs.get(event_id)
        if job is not None:
            job.tokens.append(text)
        if self._holds(event_id):
            await self._connection.send({"type": "token", "event_id": event_id, "token": text})

    async def _send_reply(self, event_id: str, text: str) -> None:
        job = self._jobs.get(event_id)
        self._answered.set(event_id, (job.tokens if job is not None else [], text))
        # If the socket that held the event is gone, the relay redelivers the event to the next
        # one, and the remembered reply answers it then.
        if self._holds(event_id):
            await self._connection.send_text(text)

    def _holds(self, event_id: str) -> bool:
        job = self._jobs.get(event_id)
        return job is not None and job.epoch == self._connection.epoch and self._connection.is_open

    # ── connection hooks ───────────────────────────────────────────────────

    async def _on_open(self, epoch: int) -> None:
        if self._opened is not None and not self._opened.done():
            self._opened.set_result(None)

    def _on_lost(self) -> None:
        # Events not started yet go back to the relay with the socket, which redelivers them.
        for job in self._waiting:
            self._jobs.pop(job.event["event_id"], None)
        self._waiting.clear()

    def _on_closed(self, reason: RelayError) -> None:
        for job in self._jobs.values():
            job.reply.cancelled.set()
        self._waiting.clear()
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(reason)
        if self._stopped is not None and not self._stopped.done():
            if reason.code == "CLOSED":
                self._stopped.set_result(None)
            else:
                self._stopped.set_exception(reason)

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "event":
            await self._on_delivery(frame)
        elif kind == "cancel":
            self._on_cancel(str(frame.get("event_id")))
        elif kind == "error":
            event_id = frame.get("event_id")
            if frame.get("code") == "RELAY_UNAVAILABLE" and isinstance(event_id, str):
                self._retry_reply(event_id)
            log.warning("relay error", extra={"code": frame.get("code"), "event_id": event_id})

    async def _on_delivery(self, event: dict[str, Any]) -> None:
        event_id = event["event_id"]
        answered = self._answered.get(event_id)
        if answered is not None:
            # Answered already, but the reply was lost with a socket: the same tokens and reply
            # again (this delivery is a new attempt, streamed from seq 0), no new run.
            tokens, text = answered
            for token in tokens:
                await self._connection.send({"type": "token", "event_id": event_id, "token": token})
            await self._connection.send_text(text)
            return
        job = self._jobs.get(event_id)
        if job is not None:
            await self._move(job, self._connection.epoch)
            return
        if self._connection.stopped is not None:
            return
        job = _Job(event, self._connection.epoch, Reply(event, self))
        self._jobs[event_id] = job
        self._waiting.append(job)
        self._pump()

    async def _move(self, job: _Job, epoch: int) -> None:
        """A running event redelivered on socket ``epoch``: its tokens so far go out again, then
        its frames follow that socket. The handler keeps streaming meanwhile; tokens it adds while
        these are written are written here too, so none is skipped or sent twice."""
        event_id = job.event["event_id"]
        sent = 0
        while sent < len(job.tokens):
            if self._connection.epoch != epoch:
                return  # lost again: the next redelivery starts over
            await self._connection.send({"type": "token", "event_id": event_id, "token": job.tokens[sent]})
            sent += 1
        job.epoch = epoch
        answered = self._answered.get(event_id)
        if answered is not None:
            await self._connection.send_text(answered[1])  # replied while its tokens were written

    def _on_cancel(self, event_id: str) -> None:
        job = self._jobs.get(event_id)
        if job is None:
            return
        job.reply.cancelled.set()
        if job.task is None:
            self._waiting.remove(job)
            del self._jobs[event_id]

    def _retry_reply(self, event_id: str) -> None:
        """The relay could not record the reply (its store is down): send it again after a
        pause, on the same socket only (a new socket gets the event again, and the remembered
        reply answers that). A retry refused again is retried again."""
        answered = self._answered.get(event_id)
        if answered is None or self._connection.stopped is not None:
            return
        text = answered[1]
        epoch = self._connection.epoch

        def resend() -> None:
            self._timers.discard(timer)
            if self._connection.epoch == epoch and self._connection.stopped is None:
                asyncio.ensure_future(self._connection.send_text(text))

        timer = asyncio.get_running_loop().call_later(REPLY_RETRY_S * (0.5 + self._rand()), resend)
        self._timers.add(timer)

    # ── running handlers ───────────────────────────────────────────────────

    def _pump(self) -> None:
        """Starts waiting events while there is room, never two of one session at once."""
        handler = self._handler
        if handler is None:
            return
        i = 0
        while i < len(self._waiting) and len(self._busy_sessions) < self._concurrency:
            job = self._waiting[i]
            session = job.event.get("session_key", "")
            if session in self._busy_sessions:
                i += 1
                continue
            self._waiting.pop(i)
            self._busy_sessions.add(session)
            job.task = asyncio.get_running_loop().create_task(self._run_job(job, handler))

    async def _run_job(self, job: _Job, handler: Handler) -> None:
        reply = job.reply
        try:
            result = await handler(job.event, reply)
            if not reply.replied and not reply.cancelled.is_set():
                if isinstance(result, str):
                    await reply.done(result)
                else:
                    await self._failed(job, "The handler returned without a reply")
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the handler's failure is the event's answer, not ours
            log.warning("handler failed", extra={"event_id": reply.event_id, "error": type(err).__name__})
            if not reply.replied and not reply.cancelled.is_set():
                await self._failed(job, str(err) or type(err).__name__)
        finally:
            if self._jobs.get(reply.event_id) is job:
                del self._jobs[reply.event_id]
            self._busy_sessions.discard(job.event.get("session_key", ""))
            self._pump()

    async def _failed(self, job: _Job, message: str) -> None:
        await job.reply.fail(message)
