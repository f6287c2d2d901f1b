"""The SDK's one error type."""

from __future__ import annotations

from typing import Any, Optional

from .protocol import RETRYABLE_ERROR_CODES

#: ``close()`` was called before the operation finished.
CLOSED = "CLOSED"
#: The relay refused the credentials (HTTP 401 at the upgrade, or close code 1008): the client
#: stops reconnecting.
UNAUTHORIZED = "UNAUTHORIZED"


class RelayError(Exception):
    """An error from the relay, or one the SDK raises for it.

    ``code`` is the protocol's error code (``AGENT_NOT_FOUND``, ``CANCELLED``…) or one of the
    SDK's own (``CLOSED``, ``UNAUTHORIZED``); ``message`` says why; ``retryable`` is true when
    sending the same thing again later may succeed (``RATE_LIMITED``, ``QUEUE_FULL``,
    ``RELAY_UNAVAILABLE``); ``event_id`` names the event the error is about, when there is one.
    """

    def __init__(self, code: str, message: str, event_id: Optional[str] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.event_id = event_id
        self.retryable = code in RETRYABLE_ERROR_CODES

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> "RelayError":
        """The error an ``error`` frame from the relay stands for."""
        message = frame.get("message") or frame.get("error") or frame.get("code", "")
        return cls(str(frame.get("code")), str(message), frame.get("event_id"))
