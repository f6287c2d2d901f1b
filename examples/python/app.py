#!/usr/bin/env python3
"""The app of seed 001 ("Code Examples", Python), rewritten on relay_sdk: discovers the agents,
sends one event to athena, prints the answer as it streams, then the final reply.

    RELAY_TOKEN=rlk_portal_... python3 examples/python/app.py "@athena summarize this task"

Environment: RELAY_URL (default ws://localhost:8080), RELAY_TOKEN (an app token, rlk_...; `npm
start` prints a development one), RELAY_AGENT (default athena), RELAY_TIMEOUT_S (cancel the
event after this long, default 60). Exits 0 on a reply, 1 on an error.

What the seed's RelayClient did by hand, the SDK does: reconnects with backoff (and sends again,
with the same idempotency key, what has no answer yet), answers pings, matches answers to
requests, and the relay, not the client, makes the event_id.
"""

import asyncio
import os
import sys
import uuid
from pathlib import Path

try:
    from relay_sdk import AppClient, RelayError, Restart
except ImportError:  # run from a checkout without `pip install packages/sdk-python`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packages/sdk-python"))
    from relay_sdk import AppClient, RelayError, Restart


async def main() -> int:
    token = os.environ.get("RELAY_TOKEN")
    if not token:
        print("app: RELAY_TOKEN is not set. `npm start` prints a development app token (rlk_...).", file=sys.stderr)
        return 1
    agent = os.environ.get("RELAY_AGENT", "athena")
    message = sys.argv[1] if len(sys.argv) > 1 else "@athena summarize this task"
    timeout = float(os.environ.get("RELAY_TIMEOUT_S", "60"))

    async with AppClient(os.environ.get("RELAY_URL", "ws://localhost:8080"), token) as app:
        try:
            agents = await app.discover()
            print(f"Discovered {len(agents)} agents: {', '.join(a['id'] + ' (' + a['status'] + ')' for a in sorted(agents, key=lambda a: a['id']))}")
            handle = await app.send(
                agent,
                f"portal:task-123:comment-{uuid.uuid4().hex[:8]}",
                {
                    "event": "comment.mention",
                    "message": message,
                    "task_id": "task-123",
                    "task_title": "Q2 Roadmap Review",
                },
            )
            print(f"Sent event {handle.event_id} to {agent} (session {handle.accepted['session_key']})")

            async def stream() -> dict:
                async for piece in handle.tokens():
                    if isinstance(piece, Restart):
                        print("\n(the agent started its answer again)")
                    else:
                        print(piece, end="", flush=True)
                return await handle.reply()

            try:
                reply = await asyncio.wait_for(stream(), timeout)
            except asyncio.TimeoutError:
                await app.cancel(handle.event_id)
                reply = await handle.reply()  # raises CANCELLED
        except RelayError as err:
            print(f"\nError: {err.message} ({err.code})", file=sys.stderr)
            return 1

    print("\n\nReply complete!")
    print(f"Full text: {reply['reply']}")
    print(f"Finish reason: {reply['finish_reason']}")
    print(f"Tokens: {reply['metadata']['tokens_used']}")
    print(f"Latency: {reply['metadata']['latency_ms']}ms")
    return 1 if reply["finish_reason"] == "error" else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
