"""An app's connection to Relay: send events, stream their answers, cancel them."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .backoff import Backoff
from .connection import Connection, Heartbeat, State
from .errors import RelayError
from .event_handle import EventHandle
from .protocol import (
    AGENT_ID_PATTERN,
    FINAL_ERROR_CODES,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_PAYLOAD_BYTES,
    THREAD_ID_PATTERN,
    encode,
    utf8_length,
)
from .recent import RecentDict
from .resume import BARRIER_REF, RESUME_REF, RESUME_RETRY_S, Resuming, barrier_frame, resume_frame

log = logging.getLogger("relay_sdk")

#: Ended event ids remembered to drop duplicate finals (delivery is at least once).
REMEMBERED_FINALS = 10_000
#: Resends of an event the relay could not record (RELAY_UNAVAILABLE): its store is down, and
#: retrying at once would only add load to a relay that is recovering.
UNAVAILABLE_BACKOFF = Backoff(initial=0.5, maximum=10.0, factor=2.0, jitter=0.5)


@dataclass
class _Request:
    """A frame waiting for its answer, by ref; sent again on every new socket until answered."""

    frame: dict[str, Any]
    future: "asyncio.Future[Any]"
    kind: str
    handle: Optional[EventHandle] = None
    unavailable: int = 0
    retry: Optional[asyncio.TimerHandle] = field(default=None, repr=False)
    #: The sockets it was written to: an event ``accepted`` after more than one may have been
    #: accepted on a lost one too, its tokens gone there, so its stream is resumed.
    sockets: int = 0


class AppClient:
    """An app (``rlk_…`` token) connected to Relay.

    Use it as ``async with AppClient(url, token) as app:``, or call ``start()`` and ``close()``.
    ``url`` is the relay's base URL (``ws://localhost:8080``) or the full ``/v1/ws/app`` endpoint.

    Guarantees:

    - Connects in the background and reconnects whenever the socket is lost, with exponential
      backoff and jitter (``backoff``); requests made while disconnected wait for a socket. A
      refused token (HTTP 401, close 1008) stops it: pending and later calls raise
      ``UNAUTHORIZED``.
    - Answers are matched to requests by ``ref``, so any number of calls may run at once.
    - ``send()`` gives each event an idempotency key (yours, or a random one): a send is repeated
      on every new socket until its final frame arrives, and the relay answers a repeat with the
      first event, never a second one.
    - After a reconnect each unfinished event's stream is resumed from the last token held, and
      a send whose ``accepted`` came on a later socket than it was first written to from its
      first token (see ``resume``): ``tokens()`` yields each token once, in order, across the
      reconnect, and a handle's final settles only after its replayed tokens.
    - ``RELAY_UNAVAILABLE`` (the relay's store is down; nothing was recorded) is retried with
      backoff; other refusals raise ``RelayError``.
    - Each event's final frame settles its handle once; duplicates are dropped by ``event_id``.
      Finals of events this client holds no handle for (another process of the app sent them)
      go to ``on_orphan``, once each.
    - ``close()`` leaves no task or socket behind.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        backoff: Backoff = Backoff(),
        heartbeat: Optional[Heartbeat] = Heartbeat(),
        on_orphan: Optional[Callable[[dict[str, Any]], None]] = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._connection = Connection(
            "app",
            url,
            token,
            on_open=self._on_open,
            on_frame=self._on_frame,
            on_closed=self._on_closed,
            backoff=backoff,
            heartbeat=heartbeat,
            rand=rand,
        )
        self._on_orphan = on_orphan
        self._rand = rand
        self._pending: dict[str, _Request] = {}
        self._handles: dict[str, EventHandle] = {}
        self._finished: RecentDict[str, bool] = RecentDict(REMEMBERED_FINALS)
        self._unclaimed: dict[str, dict[str, Any]] = {}
        #: Events whose tokens came before any ``accepted`` named them (dropped then): a send
        #: whose first try was refused after the relay recorded it, streaming before the retry's
        #: ``accepted``. The handle that the ``accepted`` makes resumes, so the replay brings them.
        self._streamed_ahead: RecentDict[str, bool] = RecentDict(REMEMBERED_FINALS)
        self._cancels: dict[str, list[asyncio.Future[bool]]] = {}
        #: Events resumed on the current socket (see resume.py): finals are held until their
        #: barrier is answered.
        self._resuming: dict[str, Resuming] = {}
        self._barriers = 0
        #: The current socket's number: a resume retry acts only on the socket it was set for.
        self._epoch = 0
        self._resume_retries: set[asyncio.TimerHandle] = set()
        self._refs = 0
        self._opened: Optional[asyncio.Future[None]] = None

    async def __aenter__(self) -> "AppClient":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def state(self) -> State:
        return self._connection.state

    def start(self) -> None:
        """Starts connecting in the background."""
        if self._opened is None:
            self._opened = asyncio.get_running_loop().create_future()
            self._opened.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._connection.start()

    async def opened(self) -> None:
        """Returns once the first socket is open; raises if the client stops before."""
        self.start()
        assert self._opened is not None
        await asyncio.shield(self._opened)

    async def discover(self) -> list[dict[str, Any]]:
        """The agents this app may send to, with live status (the ``agents`` frame's list)."""
        return await self._request({"type": "discover"}, "discover")

    async def send(
        self,
        agent_id: str,
        thread_id: str,
        payload: Any,
        ttl_ms: Optional[int] = None,
        idempotency_key: Optional[str] = None,
    ) -> EventHandle:
        """Sends an event; returns its handle once the relay has durably accepted it.

        Checked before sending (``RelayError`` ``INVALID_MESSAGE``, ``PAYLOAD_TOO_LARGE``): the
        ids' shapes, and the payload's size as UTF-8 JSON (at most 64,000 bytes). Pass your own
        ``idempotency_key`` (your database id for the comment, say) to make retries from another
        process or after a restart idempotent too; the relay remembers keys for 24 h.

        It waits for a connection if there is none, and retries ``RELAY_UNAVAILABLE`` until the
        relay accepts or refuses the event or the client closes: bound the wait with
        ``asyncio.wait_for`` if you need to (a send given up before ``accepted`` may still have
        been accepted; its final then goes to ``on_orphan``).
        """
        frame: dict[str, Any] = {"type": "event", "agent_id": agent_id, "thread_id": thread_id, "payload": payload}
        if ttl_ms is not None:
            frame["ttl_ms"] = ttl_ms
        frame["idempotency_key"] = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        _check_event(frame)
        handle: EventHandle = await self._request(frame, "event")
        return handle

    async def cancel(self, event_id: str) -> bool:
        """Asks the relay to cancel the event. True once it ended as ``CANCELLED`` (the agent's
        handler sees ``reply.cancelled`` set), False if it had already ended or is not this
        app's. It waits for the event's final frame, which goes to the connection holding the
        event: for an event another process of the app sent, bound it with ``asyncio.wait_for``."""
        handle = self._handles.get(event_id)
        if event_id in self._finished or (handle is not None and handle.done):
            return False
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[bool] = loop.create_future()
        self._cancels.setdefault(event_id, []).append(ended)
        request = asyncio.ensure_future(self._request({"type": "cancel", "event_id": event_id}, "cancel"))
        try:
            done, _ = await asyncio.wait({ended, request}, return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                return ended.result()
            request.result()  # raises CLOSED / UNAUTHORIZED
            return False  # UNKNOWN_EVENT: it had already ended
        finally:
            # Cancelling the request task takes its pending cancel frame with it (see _request).
            for f in (ended, request):
                f.cancel()
            await asyncio.gather(request, return_exceptions=True)
            waiters = self._cancels.get(event_id, [])
            if ended in waiters:
                waiters.remove(ended)
            if not waiters:
                self._cancels.pop(event_id, None)

    async def close(self) -> None:
        """Closes the socket (code 1000) and stops reconnecting. Calls still waiting and handles
        without a final raise ``CLOSED`` (a final still on its way waits at the relay for the
        app's next connection). Returns once no task or socket of the client is left."""
        await self._connection.close()

    # ── requests ───────────────────────────────────────────────────────────

    async def _request(self, frame: dict[str, Any], kind: str) -> Any:
        stopped = self._connection.stopped
        if stopped is not None:
            raise stopped
        self.start()
        self._refs += 1
        ref = f"sdk-{self._refs}"
        frame["ref"] = ref
        request = _Request(frame, asyncio.get_running_loop().create_future(), kind)
        self._pending[ref] = request
        try:
            await self._write(request)  # not open yet: _on_open sends it
            return await asyncio.shield(request.future)
        finally:
            # A caller that gives up (cancelled, timed out) takes its request with it; an event
            # stays until its final, so its stream follows the app across reconnects.
            if request.handle is None and self._pending.get(ref) is request:
                del self._pending[ref]
                if request.retry is not None:
                    request.retry.cancel()

    async def _write(self, request: _Request) -> None:
        if await self._connection.send(request.frame):
            request.sockets += 1

    async def _on_open(self, epoch: int) -> None:
        self._epoch = epoch
        if self._opened is not None and not self._opened.done():
            self._opened.set_result(None)
        for request in list(self._pending.values()):
            await self._write(request)
        # Tokens sent while the client was away are recorded at the relay: ask for the rest of
        # each stream after the last token taken. A final held for a replay the lost socket never
        # wrote stays held for this socket's (the old barriers will never be answered).
        await self._resume([h for h in self._handles.values() if not h.done])

    async def _resume(self, handles: list[EventHandle]) -> None:
        """Asks for each handle's stream after its last token taken; finals wait for the barrier."""
        if not handles:
            return
        self._barriers += 1
        barrier = barrier_frame(self._barriers)
        for handle in handles:
            handle._replaying = True
            held = self._resuming.get(handle.event_id)
            self._resuming[handle.event_id] = Resuming(barrier["ref"], held.final if held is not None else None)
            await self._connection.send(resume_frame(handle.event_id, handle.position))
        await self._connection.send(barrier)

    def _replays_written(self, barrier: Optional[str] = None) -> None:
        """Settles the finals held for ``barrier``'s replays (for every barrier: None)."""
        written = [event_id for event_id, r in self._resuming.items() if barrier is None or r.barrier == barrier]
        for event_id in written:
            final = self._resuming.pop(event_id).final
            if final is not None:
                self._finish(final)

    def _resume_refused(self, event_id: str, frame: dict[str, Any]) -> None:
        """UNKNOWN_EVENT (past the relay's stream retention) or a v1 relay's refusal: no replay,
        but the resend still brings the final, whose reply carries the whole answer. A retryable
        refusal (RELAY_UNAVAILABLE): asked again after a pause, the final held meanwhile."""
        handle = self._handles.get(event_id)
        held = self._resuming.get(event_id)
        if handle is None or handle.done or held is None or not RelayError.from_frame(frame).retryable:
            if handle is not None:
                handle._replaying = False
            # no replay is coming: a final held for it settles now
            self._resuming.pop(event_id, None)
            if held is not None and held.final is not None:
                self._finish(held.final)
            return
        held.barrier = ""
        epoch = self._epoch

        def again() -> None:
            self._resume_retries.discard(timer)
            if self._epoch == epoch and self._connection.stopped is None and not handle.done:
                asyncio.ensure_future(self._resume([handle]))

        timer = asyncio.get_running_loop().call_later(RESUME_RETRY_S * (0.5 + self._rand()), again)
        self._resume_retries.add(timer)

    def _on_closed(self, reason: RelayError) -> None:
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(reason)
        for timer in self._resume_retries:
            timer.cancel()
        self._resume_retries.clear()
        # Finals held for a replay are real: they settle the handles rather than CLOSED.
        self._replays_written()
        pending = list(self._pending.values())
        self._pending.clear()
        for request in pending:
            if request.retry is not None:
                request.retry.cancel()
            if request.handle is not None:
                request.handle._fail(reason)
            elif not request.future.done():
                request.future.set_exception(reason)
        for waiters in self._cancels.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(reason)
        self._handles.clear()
        self._release_unclaimed()

    # ── frames ─────────────────────────────────────────────────────────────

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "token":
            event_id = frame.get("event_id", "")
            handle = self._handles.get(event_id)
            if handle is not None:
                handle._token(frame)
            elif event_id not in self._finished:
                self._streamed_ahead.set(event_id, True)
            return
        if kind == "reply":
            self._finish(frame)
            return
        if kind == "resumed":  # its replay follows
            handle = self._handles.get(frame.get("event_id", ""))
            if handle is not None:
                handle._replaying = False
            return
        ref = frame.get("ref")
        if isinstance(ref, str) and ref.startswith(BARRIER_REF):
            self._replays_written(ref)
            return
        if kind == "error" and isinstance(ref, str) and ref.startswith(RESUME_REF):
            self._resume_refused(ref[len(RESUME_REF) :], frame)
            return
        request = self._pending.get(frame["ref"]) if isinstance(frame.get("ref"), str) else None
        if request is not None:
            await self._answer(frame["ref"], request, frame)
        if kind == "error":
            if frame.get("event_id") is not None and frame.get("code") in FINAL_ERROR_CODES:
                self._finish(frame)
            elif request is None:
                log.warning("relay error", extra={"code": frame.get("code"), "event_id": frame.get("event_id")})

    async def _answer(self, ref: str, request: _Request, frame: dict[str, Any]) -> None:
        kind, code = frame["type"], frame.get("code")
        if request.handle is not None:
            # The answer to a reattach on a new socket: the stream now follows this socket.
            if kind != "error" or code in FINAL_ERROR_CODES:
                return
            if code == "RELAY_UNAVAILABLE":
                self._retry_later(ref, request)
            else:
                log.warning("relay refused a resend", extra={"code": code, "event_id": request.handle.event_id})
            return
        if request.future.done():
            return
        if kind == "error" and code == "RELAY_UNAVAILABLE" and request.kind == "event":
            self._retry_later(ref, request)
        elif kind == "error":
            if request.kind == "cancel" and code == "UNKNOWN_EVENT":
                request.future.set_result(False)
            elif request.kind != "cancel" or code not in FINAL_ERROR_CODES:
                request.future.set_exception(RelayError.from_frame(frame))
            self._pending.pop(ref, None)
        elif kind == "accepted" and request.kind == "event":
            handle = EventHandle(frame, self.cancel)
            request.handle = handle
            self._handles[handle.event_id] = handle
            early = self._unclaimed.pop(handle.event_id, None)
            ahead = self._streamed_ahead.pop(handle.event_id) is not None
            # Accepted on an earlier socket too, perhaps; or the event streamed (or ended) before
            # this ``accepted``: the resume replays its tokens, and an early final waits for it.
            if request.sockets > 1 or ahead or early is not None:
                await self._resume([handle])
            request.future.set_result(handle)
            if early is not None:
                self._finish(early)
            self._release_unclaimed()
        elif kind == "agents" and request.kind == "discover":
            request.future.set_result(frame.get("agents", []))
            self._pending.pop(ref, None)

    def _retry_later(self, ref: str, request: _Request) -> None:
        delay = UNAVAILABLE_BACKOFF.delay(request.unavailable, self._rand)
        request.unavailable += 1

        def resend() -> None:
            request.retry = None
            if self._pending.get(ref) is request:
                asyncio.ensure_future(self._connection.send(request.frame))  # the same socket: not counted

        request.retry = asyncio.get_running_loop().call_later(delay, resend)

    def _finish(self, final: dict[str, Any]) -> None:
        """A final frame: settles its handle once; duplicates are dropped."""
        event_id = final["event_id"]
        if event_id in self._finished:
            return
        held = self._resuming.get(event_id)
        if held is not None:
            if held.final is None:
                held.final = final
            return
        handle = self._handles.get(event_id)
        if handle is None and any(r.kind == "event" and r.handle is None for r in self._pending.values()):
            # It may be the final of a send whose `accepted` was lost with a socket: hold it
            # until every send in progress has its answer.
            self._unclaimed[event_id] = final
            return
        self._finished.set(event_id, True)
        cancelled = final.get("type") == "error" and final.get("code") == "CANCELLED"
        for waiter in self._cancels.pop(event_id, []):
            if not waiter.done():
                waiter.set_result(cancelled)
        if handle is None:
            if self._on_orphan is not None:
                self._on_orphan(final)
            return
        del self._handles[event_id]
        for ref, request in list(self._pending.items()):
            if request.handle is handle:
                del self._pending[ref]
        handle._settle(final)

    def _release_unclaimed(self) -> None:
        if any(r.kind == "event" and r.handle is None for r in self._pending.values()) and self._connection.stopped is None:
            return
        held = list(self._unclaimed.values())
        self._unclaimed.clear()
        for final in held:
            self._finish(final)


def _check_event(frame: dict[str, Any]) -> None:
    problems: list[str] = []
    if not isinstance(frame["agent_id"], str) or not AGENT_ID_PATTERN.match(frame["agent_id"]):
        problems.append("agent_id must match [a-z0-9][a-z0-9_-]{0,63}")
    if not isinstance(frame["thread_id"], str) or not THREAD_ID_PATTERN.match(frame["thread_id"]):
        problems.append("thread_id must be 1-256 chars of letters, digits and :/._-@#")
    ttl = frame.get("ttl_ms")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0):
        problems.append("ttl_ms must be a positive integer")
    key = frame["idempotency_key"]
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        problems.append(f"idempotency_key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} chars")
    try:
        size = utf8_length(encode(frame["payload"]))
    except (TypeError, ValueError) as err:
        problems.append(f"payload is not JSON: {err}")
        size = 0
    if problems:
        raise RelayError("INVALID_MESSAGE", f"Invalid event: {'; '.join(problems)}")
    if size > MAX_PAYLOAD_BYTES:
        raise RelayError("PAYLOAD_TOO_LARGE", f"Payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}")
