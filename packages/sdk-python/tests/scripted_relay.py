"""A WebSocket server that plays the relay's part frame by frame, for the cases a real relay
cannot be made to produce on demand (a duplicate final, RELAY_UNAVAILABLE, v1.1 resume)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

import websockets


class Socket:
    """One client connection as the script sees it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()

    async def next(self, kind: Optional[str] = None, timeout: float = 10) -> dict[str, Any]:
        """The next frame from the client (of this type, skipping others)."""
        while True:
            frame = await asyncio.wait_for(self.frames.get(), timeout)
            if kind is None or frame["type"] == kind:
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    def drop(self) -> None:
        """Ends the TCP connection with no closing handshake, as a dying node does."""
        self.ws.transport.abort()


class ScriptedRelay:
    def __init__(self) -> None:
        self.sockets: asyncio.Queue[Socket] = asyncio.Queue()
        self.count = 0

    async def __aenter__(self) -> "ScriptedRelay":
        self._server = await websockets.serve(self._serve, "127.0.0.1", 0, subprotocols=["relay-app", "relay-agent"])  # type: ignore[arg-type]
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def accept(self, timeout: float = 10) -> Socket:
        """The next connection a client opens."""
        return await asyncio.wait_for(self.sockets.get(), timeout)

    async def _serve(self, ws: Any, *legacy_path: Any) -> None:
        socket = Socket(ws)
        self.count += 1
        await self.sockets.put(socket)
        try:
            async for message in ws:
                await socket.frames.put(json.loads(message))
        except websockets.ConnectionClosed:
            pass
        finally:
            socket.closed.set()


def accepted(frame: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    """The relay's `accepted` for an app's `event` frame."""
    return {
        "type": "accepted",
        "event_id": event_id,
        "agent_id": frame["agent_id"],
        "thread_id": frame["thread_id"],
        "session_key": f"relay:{frame['agent_id']}:x",
        "status": "accepted",
        "queued": False,
        "ref": frame["ref"],
    }


def reply(event_id: str = "evt_1", content: str = "done") -> dict[str, Any]:
    return {"type": "reply", "event_id": event_id, "agent_id": "athena", "thread_id": "t", "content": content, "reply": content, "finish_reason": "stop", "payload": {}, "metadata": {}}


def token(text: str, seq: int, attempt: Optional[int] = None, event_id: str = "evt_1") -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "token", "event_id": event_id, "agent_id": "athena", "token": text, "seq": seq}
    if attempt is not None:
        frame["attempt"] = attempt
    return frame
