#!/usr/bin/env python3
"""An agent on relay_sdk: answers every event with a fake LLM answer, streamed word by word.

    RELAY_TOKEN=rla_athena_... python3 examples/python/agent.py

Environment: RELAY_URL (default ws://localhost:8080), RELAY_TOKEN (an agent token, rla_...;
`npm start` prints a development one), FAKE_LLM_WORD_MS (delay between words, default 40).

The SDK does the rest: reconnects with backoff, answers pings, runs each event once however
often the relay redelivers it, sets reply.cancelled when the app cancels, and answers
finish_reason "error" if the handler raises. Ctrl-C (or SIGTERM) closes cleanly.
"""

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any, AsyncIterator

try:
    from relay_sdk import AgentClient, RelayError, Reply
except ImportError:  # run from a checkout without `pip install packages/sdk-python`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packages/sdk-python"))
    from relay_sdk import AgentClient, RelayError, Reply

WORD_S = float(os.environ.get("FAKE_LLM_WORD_MS", "40")) / 1000


async def fake_llm(prompt: str, stop: asyncio.Event) -> AsyncIterator[str]:
    """A stand-in for a model: the answer, word by word, until ``stop`` is set."""
    answer = (
        f'Here is what I make of "{prompt}": the team agreed to ship mobile first, '
        "to review the Q2 roadmap on Friday, and to keep the beta small until the crash rate drops."
    )
    for word in re.findall(r"\S+\s*", answer):
        try:
            await asyncio.wait_for(stop.wait(), WORD_S)
            return
        except asyncio.TimeoutError:
            yield word


async def main() -> int:
    token = os.environ.get("RELAY_TOKEN")
    if not token:
        print("agent: RELAY_TOKEN is not set. `npm start` prints a development agent token (rla_...).", file=sys.stderr)
        return 1
    agent = AgentClient(os.environ.get("RELAY_URL", "ws://localhost:8080"), token, concurrency=8)

    @agent.on_event
    async def answer(event: dict[str, Any], reply: Reply) -> Any:
        payload = event["payload"]
        prompt = payload["message"] if isinstance(payload, dict) and isinstance(payload.get("message"), str) else str(payload)
        text = ""
        async for word in fake_llm(prompt, reply.cancelled):
            await reply.token(word)
            text += word
        if reply.cancelled.is_set():
            print(f"{event['event_id']} cancelled: stopped after {len(text)} chars", flush=True)
            return None
        print(f"{event['event_id']} from {event['app_id']} answered ({len(text)} chars)", flush=True)
        return await reply.done(text, metadata={"model": "fake-llm"})

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda name=sig.name: (print(f"{name}: closing", flush=True), asyncio.ensure_future(agent.close())))
    runner = asyncio.ensure_future(agent.run())
    try:
        await agent.opened()
        print("connected", flush=True)
        await runner
    except RelayError as err:
        print(f"agent: {err.code}: {err.message}", file=sys.stderr)
        await agent.close()
        await asyncio.gather(runner, return_exceptions=True)
        return 1
    print("closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
