"""The few places where websockets 10.x (Debian bookworm) and current releases differ.

websockets 13 added the ``websockets.asyncio`` implementation (made the default in 14), whose
``connect()`` takes ``additional_headers`` and reports a refused upgrade as ``InvalidStatus``;
the legacy one takes ``extra_headers`` and raises ``InvalidStatusCode``. Everything else the SDK
uses (``send``, ``recv``, ``close``, ``ConnectionClosed.rcvd``, ``transport``) is the same in
both; ``close_code`` is not (the new implementation has it only since 14.1).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional

_connect: Callable[..., Awaitable[Any]]
try:
    from websockets.asyncio.client import connect as _connect  # pyright: ignore[reportMissingImports]

    _headers_keyword = "additional_headers"
except ImportError:  # websockets < 13
    from websockets import connect as _connect  # type: ignore[no-redef]

    _headers_keyword = "extra_headers"

from websockets.exceptions import ConnectionClosed

__all__ = ["ConnectionClosed", "close_frame", "open_socket", "refused_status"]

#: How long ``close()`` waits for the relay's half of the closing handshake (a dead node never
#: answers) before dropping the TCP connection.
CLOSE_TIMEOUT_S = 3.0
OPEN_TIMEOUT_S = 10.0


async def open_socket(url: str, token: str, subprotocol: str) -> Any:
    """Opens one WebSocket with the token in the Authorization header."""
    kwargs: dict[str, Any] = {
        "subprotocols": [subprotocol],
        _headers_keyword: {"Authorization": f"Bearer {token}"},
        "open_timeout": OPEN_TIMEOUT_S,
        "close_timeout": CLOSE_TIMEOUT_S,
    }
    return await _connect(url, **kwargs)


def refused_status(error: BaseException) -> Optional[int]:
    """The HTTP status of a refused upgrade, or None if the error is something else."""
    status = getattr(error, "status_code", None)  # legacy InvalidStatusCode
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)  # InvalidStatus
    return status if isinstance(status, int) else None


def close_frame(closed: Optional[ConnectionClosed]) -> tuple[int, str]:
    """The close code and reason the relay sent, or 1006 when the connection just dropped."""
    received = getattr(closed, "rcvd", None)
    if received is None:
        return 1006, ""
    return int(received.code), str(received.reason)
