"""examples/python run the way a user runs them: as processes against a real relay, with
neither the package installed nor PYTHONPATH set."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Optional

from relay_harness import ROOT, Relay

EXAMPLES = ROOT / "examples/python"


def fake_answer(prompt: str) -> str:
    return (
        f'Here is what I make of "{prompt}": the team agreed to ship mobile first, '
        "to review the Q2 roadmap on Friday, and to keep the beta small until the crash rate drops."
    )


def start(script: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.Popen([sys.executable, str(EXAMPLES / script), *args], env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_line(proc: subprocess.Popen[str], line: str, timeout: float = 20) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = proc.stdout.readline()
        if got.rstrip("\n") == line:
            return
        if not got and proc.poll() is not None:
            break
    raise AssertionError(f"{line!r} never printed; stderr: {proc.stderr.read() if proc.stderr else ''}")


class Agent:
    def __init__(self, relay: Relay, word_ms: str = "2") -> None:
        self.proc = start("agent.py", {"RELAY_URL": relay.url, "RELAY_TOKEN": relay.tokens["athena"], "FAKE_LLM_WORD_MS": word_ms})
        wait_line(self.proc, "connected")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=15)
        return self.proc.returncode, out


def run_app(relay: Relay, message: str, token: Optional[str] = None, **env: str) -> subprocess.CompletedProcess[str]:
    proc = start("app.py", {"RELAY_URL": relay.url, "RELAY_TOKEN": token or relay.tokens["portal"], **env}, message)
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_app_streams_the_agents_answer_and_prints_the_reply(relay: Relay) -> None:
    agent = Agent(relay)
    try:
        result = run_app(relay, "what did we decide?")
    finally:
        code, agent_out = agent.stop()
    text = fake_answer("what did we decide?")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Discovered 2 agents: athena (online), klyve (offline)\n")
    event_id = re.search(r"\nSent event (evt_\w+) to athena \(session relay:athena:portal:task-123\)\n", result.stdout)
    assert event_id
    words = len(re.findall(r"\S+\s*", text))
    assert f"\n{text}\n\nReply complete!\nFull text: {text}\nFinish reason: stop\nTokens: {words}\nLatency: " in result.stdout
    assert code == 0
    assert f"{event_id.group(1)} from portal answered ({len(text)} chars)\n" in agent_out
    assert agent_out.endswith("SIGTERM: closing\nclosed\n")


def test_app_cancels_after_its_timeout_and_the_agent_stops(relay: Relay) -> None:
    agent = Agent(relay, word_ms="200")
    try:
        result = run_app(relay, "take your time", RELAY_TIMEOUT_S="0.7")
    finally:
        code, agent_out = agent.stop()
    assert result.returncode == 1
    assert result.stderr.endswith("Error: Event cancelled (CANCELLED)\n")
    event_id = re.search(r"Sent event (evt_\w+)", result.stdout)
    assert event_id and f"{event_id.group(1)} cancelled: stopped after" in agent_out
    assert "answered" not in agent_out


def test_a_refused_token_ends_both_examples_with_UNAUTHORIZED(relay: Relay) -> None:
    result = run_app(relay, "x", token="rlk_portal_not-a-real-token")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: the relay refused the token (HTTP 401) (UNAUTHORIZED)"
    agent = start("agent.py", {"RELAY_URL": relay.url, "RELAY_TOKEN": "rla_athena_not-a-real-token"})
    _, err = agent.communicate(timeout=20)
    assert (agent.returncode, err) == (1, "agent: UNAUTHORIZED: the relay refused the token (HTTP 401)\n")
