"""An accepted event as the app sees it: its streamed tokens and its one final frame."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, Union

from .errors import RelayError


@dataclass(frozen=True)
class Restart:
    """Yielded by ``EventHandle.tokens()`` when the agent starts the answer again: the event was
    redelivered (its agent connection was lost) and the tokens that follow belong to the new
    delivery, from its first: drop the partial text shown so far.

    ``attempt`` is the new delivery's number when the relay says (protocol v1.1 token frames
    carry ``attempt``); None when it does not (v1: the restart shows as ``seq`` going back).
    """

    attempt: Optional[int]


Token = Union[str, Restart]


class _Stream:
    """The tokens of one event, deduplicated and with restarts marked, kept for every reader."""

    def __init__(self) -> None:
        self.items: list[Token] = []
        self.ended = False
        self.attempt: Optional[int] = None
        self.last_seq = -1
        self._changed = asyncio.Event()

    def push(self, text: str, seq: int, attempt: Optional[int]) -> None:
        if self.ended:
            return
        if attempt is not None and self.attempt is not None and attempt < self.attempt:
            return  # an older delivery's, overtaken by a newer one
        if attempt is not None and attempt == self.attempt:
            if seq <= self.last_seq:
                return  # already held: a replay overlapping what arrived live (resume)
        elif attempt is not None and self.attempt is not None:
            self.items.append(Restart(attempt))
        elif attempt is None and self.last_seq >= 0 and seq <= self.last_seq:
            self.items.append(Restart(None))
        self.attempt = attempt if attempt is not None else self.attempt
        self.last_seq = seq
        self.items.append(text)
        self._wake()

    def end(self) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def iterate(self) -> AsyncIterator[Token]:
        i = 0
        while True:
            while i < len(self.items):
                yield self.items[i]
                i += 1
            if self.ended:
                return
            await self._changed.wait()


class EventHandle:
    """An event the relay has durably accepted (``accepted`` means recorded: a relay node may die
    right after and the event is still delivered).

    - ``tokens()`` yields the agent's answer as it is written: each token once, in order, with a
      ``Restart`` before the tokens of a new delivery. Every call starts from the first token, so
      reading late or twice loses nothing. It ends when the final frame arrives. Across a
      reconnect the client resumes the stream (protocol v1.1), so tokens sent while it was away
      are replayed, each once; only a v1 relay, which cannot replay, loses them (the final reply
      still carries the whole answer).
    - ``reply()`` returns the final ``reply`` frame (also when the agent failed: check
      ``finish_reason``) or raises the final error as a ``RelayError`` (``EVENT_EXPIRED``,
      ``AGENT_TIMEOUT``, ``CANCELLED``, or ``CLOSED`` when the client closed first). The final is
      settled once, however often the relay delivers it.
    - ``cancel()`` asks the relay to cancel the event.
    """

    def __init__(self, accepted: dict[str, Any], cancel: Callable[[str], Awaitable[bool]]) -> None:
        self.accepted = accepted
        """The relay's ``accepted`` frame (``session_key``, ``queued``…)."""
        self.event_id: str = accepted["event_id"]
        self._cancel = cancel
        self._stream = _Stream()
        self._replaying = False
        """A resume was sent and its ``resumed`` has not come yet: live tokens are dropped until
        then (they are recorded, so the replay carries them; one taken ahead of the replay would
        make the replay's earlier ones look already held)."""
        self._final: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        # An app may only read the tokens: a final error nobody awaits must not be logged as
        # "Future exception was never retrieved".
        self._final.add_done_callback(lambda f: f.cancelled() or f.exception())

    def tokens(self) -> AsyncIterator[Token]:
        return self._stream.iterate()

    async def reply(self) -> dict[str, Any]:
        return await asyncio.shield(self._final)

    async def cancel(self) -> bool:
        """True once the event ended as ``CANCELLED``; False if it had already ended otherwise."""
        if self.done:
            return False
        return await self._cancel(self.event_id)

    @property
    def done(self) -> bool:
        return self._final.done()

    @property
    def position(self) -> tuple[Optional[int], int]:
        """(attempt, last seq) of the tokens held: where a resume picks up."""
        return self._stream.attempt, self._stream.last_seq

    def _token(self, frame: dict[str, Any]) -> None:
        if self._replaying:
            return
        attempt = frame.get("attempt")
        self._stream.push(str(frame.get("token", "")), int(frame.get("seq", 0)), attempt if isinstance(attempt, int) else None)

    def _settle(self, final: dict[str, Any]) -> None:
        if self._final.done():
            return
        self._stream.end()
        if final.get("type") == "reply":
            self._final.set_result(final)
        else:
            self._final.set_exception(RelayError.from_frame(final))

    def _fail(self, error: RelayError) -> None:
        if not self._final.done():
            self._stream.end()
            self._final.set_exception(error)
