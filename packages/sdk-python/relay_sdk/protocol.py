"""The parts of Relay's wire protocol (v1, v1.1) the SDK needs: limits, codes, frame encoding.

They mirror ``packages/protocol/src`` (limits.ts, codes.ts); ``tests/test_protocol_constants.py``
fails if the two drift apart.
"""

from __future__ import annotations

import json
import re
from typing import Any

APP_PATH = "/v1/ws/app"
AGENT_PATH = "/v1/ws/agent"
APP_SUBPROTOCOL = "relay-app"
AGENT_SUBPROTOCOL = "relay-agent"

MAX_PAYLOAD_BYTES = 64_000
MAX_AGENT_FRAME_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 256
MAX_TOKEN_TEXT_LENGTH = 16 * 1024

AGENT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
THREAD_ID_PATTERN = re.compile(r"^[A-Za-z0-9:/._\-@#]{1,256}$")
EVENT_ID_PATTERN = re.compile(r"^evt_[0-9A-Za-z]{1,64}$")

# The relay measures token text in UTF-16 units (JavaScript string length); a code point is at
# most two of them, so chunks of half the limit in code points always fit.
TOKEN_CHUNK_CODE_POINTS = MAX_TOKEN_TEXT_LENGTH // 2

#: Final error codes: each accepted event ends with one reply or one error with one of these.
FINAL_ERROR_CODES = frozenset({"EVENT_EXPIRED", "AGENT_TIMEOUT", "CANCELLED"})
#: Codes where the same frame may succeed later.
RETRYABLE_ERROR_CODES = frozenset({"RATE_LIMITED", "QUEUE_FULL", "RELAY_UNAVAILABLE"})

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008


def encode(frame: dict[str, Any]) -> str:
    """One frame as the relay reads it: compact JSON, non-ASCII kept as UTF-8 (so a payload's
    size here is the size the relay measures), no NaN or Infinity (not JSON)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))
