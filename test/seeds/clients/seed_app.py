# Seed 000 ("Sending Your First Event"), "Full Example: Python App", as the user wrote it.
# The only changes: APP_TOKEN and RELAY_URL come from the environment (RELAY_TOKEN, RELAY_URL =
# the full app endpoint, e.g. ws://localhost:8080/v1/ws/app), hence `import os`.
# Runs on Debian's python3-websockets (10.4), where `extra_headers` is the connect() keyword.
import asyncio
import websockets
import json
import uuid
import os

APP_TOKEN = os.environ["RELAY_TOKEN"]
RELAY_URL = os.environ["RELAY_URL"]

async def main():
    headers = {"Authorization": f"Bearer {APP_TOKEN}"}
    async with websockets.connect(
        RELAY_URL,
        subprotocols=["relay-app"],
        extra_headers=headers
    ) as ws:
        print("Connected to Relay\n")

        # 1. Send event
        event = {
            "type": "event",
            "agent_id": "athena",
            "thread_id": f"portal:task-123:comment-{uuid.uuid4().hex[:8]}",
            "payload": {
                "event": "comment.mention",
                "message": "@athena summarize this discussion",
                "task_id": "task-123",
                "task_title": "Q2 Roadmap Review",
                "comments": [
                    {"author": "John", "text": "Mobile first..."},
                    {"author": "Sarah", "text": "@athena summarize this discussion"}
                ]
            }
        }

        print(f"→ Sending event: {event['type']}\n")
        await ws.send(json.dumps(event))

        # 2. Receive messages
        reply_buffer = {}
        while True:
            message = await ws.recv()
            data = json.loads(message)
            msg_type = data.get("type")

            if msg_type == "accepted":
                print(f"✓ Event accepted")
                print(f" Event ID: {data['event_id']}")
                print(f" Session: {data['session_key']}\n")

            elif msg_type == "token":
                event_id = data["event_id"]
                token = data["token"]
                if event_id not in reply_buffer:
                    reply_buffer[event_id] = ""
                reply_buffer[event_id] += token
                print(f"← {reply_buffer[event_id]}", end="", flush=True)

            elif msg_type == "reply":
                event_id = data["event_id"]
                print(f"\n\n✓ Reply complete")
                print(f" Content: {data['content'][:100]}...")
                print(f" Finish reason: {data['finish_reason']}\n")
                break

asyncio.run(main())
