"""How a handler answers one event."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal, Optional

from .errors import RelayError
from .protocol import MAX_AGENT_FRAME_BYTES, TOKEN_CHUNK_CODE_POINTS, encode, utf8_length

if TYPE_CHECKING:
    from .agent_client import AgentClient

FinishReason = Literal["stop", "length", "error"]


class Reply:
    """Given to the handler with each event.

    - ``cancelled`` is an ``asyncio.Event`` set when the app cancels the event, the relay gives
      up on it (``AGENT_TIMEOUT``) or the client closes: stop working; nothing more is sent.
    - ``token()`` streams a piece of the answer while the relay holds the event on this
      client's socket. If the socket is lost and the relay redelivers the event while the handler
      still runs, every token so far goes out again on the new socket (the new attempt's stream
      spells the whole answer); tokens of an event the relay no longer holds here are dropped.
    - ``done()`` sends the final answer, ``fail()`` ends the event with ``finish_reason: "error"``;
      a handler may instead return the answer as a string. The reply is sent at most once.
      The payload is not echoed: the relay fills in the app's original.
    """

    def __init__(self, event: dict[str, Any], client: "AgentClient") -> None:
        self.event = event
        self.cancelled = asyncio.Event()
        self.replied = False
        self._client = client

    @property
    def event_id(self) -> str:
        return str(self.event["event_id"])

    async def token(self, text: str) -> None:
        if self.replied or self.cancelled.is_set():
            return
        # The protocol caps one token frame at 16 KiB of text: a longer piece goes as several.
        for i in range(0, max(len(text), 1), TOKEN_CHUNK_CODE_POINTS):
            await self._client._send_token(self.event_id, text[i : i + TOKEN_CHUNK_CODE_POINTS])

    async def done(self, content: str, finish_reason: Literal["stop", "length"] = "stop", metadata: Optional[dict[str, Any]] = None) -> bool:
        """Sends the final answer. False when the event was cancelled first (nothing sent).
        Raises ``RelayError`` ``PAYLOAD_TOO_LARGE`` past the relay's 1 MiB frame limit."""
        frame: dict[str, Any] = {"type": "reply", "event_id": self.event_id, "content": content, "finish_reason": finish_reason}
        if metadata is not None:
            frame["metadata"] = metadata
        return await self._send(frame)

    async def fail(self, message: str, metadata: Optional[dict[str, Any]] = None) -> bool:
        """Ends the event with ``finish_reason: "error"`` and this message."""
        frame: dict[str, Any] = {"type": "reply", "event_id": self.event_id, "content": None, "finish_reason": "error", "error": message}
        if metadata is not None:
            frame["metadata"] = metadata
        return await self._send(frame)

    async def _send(self, frame: dict[str, Any]) -> bool:
        if self.replied:
            raise RuntimeError(f"event {self.event_id} already has a reply")
        if self.cancelled.is_set():
            return False
        text = encode(frame)
        # The relay closes a socket that sends a frame past its limit (1009): the event would
        # come back and the same reply would be sent again, for ever.
        if utf8_length(text) > MAX_AGENT_FRAME_BYTES:
            raise RelayError("PAYLOAD_TOO_LARGE", f"Reply is over {MAX_AGENT_FRAME_BYTES} bytes", self.event_id)
        self.replied = True
        await self._client._send_reply(self.event_id, text)
        return True
