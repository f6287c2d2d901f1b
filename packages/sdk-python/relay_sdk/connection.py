"""One logical connection to the relay over a succession of sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Literal, Optional, cast
from urllib.parse import urlsplit, urlunsplit

from . import _websockets as ws_compat
from .backoff import Backoff
from .errors import CLOSED, UNAUTHORIZED, RelayError
from .protocol import AGENT_PATH, AGENT_SUBPROTOCOL, APP_PATH, APP_SUBPROTOCOL, CLOSE_NORMAL, CLOSE_POLICY, encode

log = logging.getLogger("relay_sdk")

Role = Literal["app", "agent"]
#: ``connecting``: a socket is being opened; ``open``: frames flow; ``reconnecting``: waiting
#: for the next attempt; ``closed``: for good, after ``close()`` or a refused token.
State = Literal["connecting", "open", "reconnecting", "closed"]

_PATHS = {"app": APP_PATH, "agent": AGENT_PATH}
_SUBPROTOCOLS = {"app": APP_SUBPROTOCOL, "agent": AGENT_SUBPROTOCOL}


@dataclass(frozen=True)
class Heartbeat:
    """Client-side liveness: a JSON ping every ``interval`` seconds; the socket is dropped (and
    a new one dialled) when nothing at all arrives within ``timeout`` seconds of a ping. The
    relay's own WebSocket pings are answered by websockets regardless."""

    interval: float = 25.0
    timeout: float = 10.0


def endpoint_url(base: str, role: Role) -> str:
    """The endpoint to dial: the role's path appended unless already there; http(s) read as ws(s)."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a WebSocket URL: {base}")
    path = parts.path
    if not path.endswith(_PATHS[role]):
        path = path.rstrip("/") + _PATHS[role]
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class Connection:
    """Dials, reconnects with jittered exponential backoff whenever a socket is lost, answers
    the relay's JSON pings, sends its own, and stops for good on ``close()`` or a refused token
    (HTTP 401 or close code 1008). Frames reach ``on_frame`` as dicts, one at a time, in order.
    """

    def __init__(
        self,
        role: Role,
        url: str,
        token: str,
        *,
        on_open: Callable[[int], Awaitable[None]],
        on_frame: Callable[[dict[str, Any]], Awaitable[None]],
        on_closed: Callable[[RelayError], None],
        on_lost: Callable[[], None] = lambda: None,
        backoff: Backoff = Backoff(),
        heartbeat: Optional[Heartbeat] = Heartbeat(),
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not token:
            raise ValueError("token is required")
        self._role = role
        self._url = endpoint_url(url, role)
        self._token = token
        self._on_open = on_open
        self._on_frame = on_frame
        self._on_closed = on_closed
        self._on_lost = on_lost
        self._backoff = backoff
        self._heartbeat = heartbeat
        self._rand = rand
        self._socket: Any = None
        self._open = False
        self._closing = False
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task[None]] = None
        self._state: State = "connecting"
        self._last_seen = 0.0
        self.epoch = 0
        """Counts the sockets opened so far (1 for the first)."""
        self.stopped: Optional[RelayError] = None
        """Why the connection ended for good, once it has."""

    @property
    def state(self) -> State:
        return self._state

    @property
    def is_open(self) -> bool:
        return self._open

    def start(self) -> None:
        """Starts dialling in the background (once)."""
        if self._task is None and not self._closing:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"relay-{self._role}-connection")

    async def send(self, frame: dict[str, Any]) -> bool:
        """Sends one frame if a socket is open; False (nothing sent) otherwise."""
        return await self.send_text(encode(frame))

    async def send_text(self, text: str) -> bool:
        socket = self._socket
        if not self._open or socket is None:
            return False
        try:
            await socket.send(text)
            return True
        except ws_compat.ConnectionClosed:
            return False

    async def close(self) -> None:
        """Closes for good: no more reconnects. Returns once the socket is closed (the closing
        handshake waits at most a few seconds for a relay that does not answer) and the
        background task has ended."""
        if not self._closing:
            self._closing = True
            self._wake.set()
            socket = self._socket
            if socket is not None:
                await socket.close(CLOSE_NORMAL, "client closing")
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        elif self.stopped is None:
            self._stop(RelayError(CLOSED, "The client was closed"))

    async def _run(self) -> None:
        failures = 0
        try:
            while not self._closing:
                self._set_state("connecting")
                opened_at, code, reason = await self._one_socket()
                if self._closing:
                    break
                if code == 401 or code == CLOSE_POLICY:
                    why = "the relay refused the token (HTTP 401)" if code == 401 else f"closed by the relay: {code} {reason}"
                    self._stop(RelayError(UNAUTHORIZED, why))
                    return
                loop = asyncio.get_running_loop()
                if opened_at is not None and loop.time() - opened_at >= self._backoff.reset_after:
                    failures = 0
                delay = self._backoff.delay(failures, self._rand)
                failures += 1
                self._set_state("reconnecting")
                log.info("relay connection lost", extra={"code": code, "reason": reason, "retry_in_s": round(delay, 3)})
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
        except Exception as err:  # a bug, not a network failure: say so instead of dying silently
            log.exception("relay connection failed")
            self._stop(RelayError(CLOSED, f"The client stopped on an internal error: {err!r}"))
        finally:
            self._stop(RelayError(CLOSED, "The client was closed"))

    async def _one_socket(self) -> tuple[Optional[float], int, str]:
        """Opens a socket and reads it until it ends: (when it opened, close code, reason).
        A refused upgrade reports its HTTP status as the code."""
        loop = asyncio.get_running_loop()
        try:
            socket = await ws_compat.open_socket(self._url, self._token, _SUBPROTOCOLS[self._role])
        except Exception as err:  # any failure to connect is retried, except a refused token
            status = ws_compat.refused_status(err)
            return None, status or 1006, f"HTTP {status}" if status else str(err) or type(err).__name__
        self._socket = socket
        if self._closing:
            await socket.close(CLOSE_NORMAL, "client closing")
            self._socket = None
            return None, CLOSE_NORMAL, "client closing"
        opened_at = self._last_seen = loop.time()
        self._open = True
        self.epoch += 1
        self._set_state("open")
        heartbeat = loop.create_task(self._beat(socket)) if self._heartbeat else None
        ended: Optional[ws_compat.ConnectionClosed] = None
        try:
            await self._on_open(self.epoch)
            while True:
                message = await socket.recv()
                self._last_seen = loop.time()
                await self._dispatch(message)
        except ws_compat.ConnectionClosed as closed:
            ended = closed
        finally:
            self._open = False
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            if self._socket is socket:
                self._socket = None
            self._on_lost()
        await socket.close()  # a no-op unless the socket was dropped without a handshake
        code, reason = ws_compat.close_frame(ended)
        return opened_at, code, reason

    async def _dispatch(self, message: Any) -> None:
        try:
            parsed: Any = json.loads(message)
        except ValueError:
            log.warning("relay sent a frame that is not JSON", extra={"length": len(message)})
            return
        if not isinstance(parsed, dict) or not isinstance(cast(dict[str, Any], parsed).get("type"), str):
            log.warning("relay sent a frame outside the protocol")
            return
        frame = cast(dict[str, Any], parsed)
        kind = frame["type"]
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if "ref" in frame:
                pong["ref"] = frame["ref"]
            await self.send(pong)
        elif kind != "pong":
            try:
                await self._on_frame(frame)
            except Exception:  # a frame the client cannot use must not end the connection
                log.exception("could not handle a frame from the relay", extra={"type": kind})

    async def _beat(self, socket: Any) -> None:
        beat = self._heartbeat
        assert beat is not None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(beat.interval)
            sent_at = loop.time()
            await self.send({"type": "ping"})
            await asyncio.sleep(beat.timeout)
            if self._last_seen < sent_at:
                log.warning("relay silent after a ping: dropping the socket", extra={"timeout_s": beat.timeout})
                # No closing handshake: the peer is presumed gone. The reader then ends with 1006.
                socket.transport.abort()
                return

    def _stop(self, reason: RelayError) -> None:
        if self.stopped is not None:
            return
        self.stopped = reason
        self._set_state("closed")
        self._on_closed(reason)

    def _set_state(self, state: State) -> None:
        self._state = state
