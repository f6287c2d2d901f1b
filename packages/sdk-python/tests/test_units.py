"""Pure logic: backoff, endpoint URLs, the resume seam, and the protocol constants the SDK
copies from packages/protocol (so the two cannot drift apart unnoticed)."""

from __future__ import annotations

import re

import pytest

from relay_harness import ROOT
from relay_sdk import Backoff, protocol
from relay_sdk.connection import endpoint_url
from relay_sdk.resume import resume_frame

PROTOCOL_SRC = ROOT / "packages/protocol/src"


def test_backoff_doubles_up_to_the_cap_with_jitter_either_side() -> None:
    b = Backoff(initial=2, maximum=60, factor=2, jitter=0.2)
    assert [b.delay(n, lambda: 0.5) for n in range(7)] == [2, 4, 8, 16, 32, 60, 60]
    assert b.delay(0, lambda: 0.0) == pytest.approx(1.6)
    assert b.delay(0, lambda: 0.999999) == pytest.approx(2.4, rel=1e-5)
    assert b.delay(10, lambda: 0.999999) == 60  # never above the cap


def test_endpoint_urls() -> None:
    assert endpoint_url("ws://localhost:8080", "app") == "ws://localhost:8080/v1/ws/app"
    assert endpoint_url("https://relay.example/", "agent") == "wss://relay.example/v1/ws/agent"
    assert endpoint_url("ws://h/v1/ws/app", "app") == "ws://h/v1/ws/app"
    with pytest.raises(ValueError):
        endpoint_url("ftp://h", "app")


def test_a_resume_asks_for_what_follows_the_last_token_held() -> None:
    assert resume_frame("evt_1", (2, 3)) == {"type": "resume", "event_id": "evt_1", "attempt": 2, "after_seq": 3, "ref": "sdk-resume:evt_1"}
    # nothing held yet: the whole current attempt
    assert resume_frame("evt_1", (None, -1)) == {"type": "resume", "event_id": "evt_1", "ref": "sdk-resume:evt_1"}


def _ts_number(name: str, text: str) -> int:
    match = re.search(rf"export const {name} = ([\d_ *]+);", text)
    assert match, name
    product = 1
    for factor in match.group(1).replace("_", "").split("*"):  # a literal like 16 * 1024
        product *= int(factor)
    return product


def _ts_set(name: str, text: str) -> set[str]:
    match = re.search(rf"export const {name}[^=]*= new Set\(\[([^\]]*)\]", text)
    assert match, name
    return set(re.findall(r"ErrorCode\.(\w+)", match.group(1)))


def test_constants_match_the_typescript_protocol() -> None:
    limits = (PROTOCOL_SRC / "limits.ts").read_text()
    codes = (PROTOCOL_SRC / "codes.ts").read_text()
    for name in ("MAX_PAYLOAD_BYTES", "MAX_AGENT_FRAME_BYTES", "MAX_IDEMPOTENCY_KEY_LENGTH", "MAX_TOKEN_TEXT_LENGTH"):
        assert getattr(protocol, name) == _ts_number(name, limits), name
    for name in ("AGENT_ID_PATTERN", "THREAD_ID_PATTERN", "EVENT_ID_PATTERN"):
        ts = re.search(rf"export const {name} = /(.*)/;", limits)
        assert ts and getattr(protocol, name).pattern == ts.group(1), name
    assert protocol.FINAL_ERROR_CODES == _ts_set("FINAL_ERROR_CODES", codes)
    assert protocol.RETRYABLE_ERROR_CODES == _ts_set("RETRYABLE_ERROR_CODES", codes)
