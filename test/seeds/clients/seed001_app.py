# Seed 001 ("Code Examples"), "Python (asyncio + websockets)": the RelayClient as the user wrote
# it. Changes, each marked "changed:" below:
#  - the token and URL come from the environment (RELAY_TOKEN, and RELAY_URL = the full app
#    endpoint, e.g. ws://localhost:8080/v1/ws/app);
#  - the receive loop starts after send_event() instead of before discover_agents() (the seed's
#    order makes two coroutines recv() at once, which websockets refuses);
#  - it stops after the first reply instead of sleeping 10 s.
# Runs on Debian's python3-websockets (10.4), where `extra_headers` is the connect() keyword.
import asyncio
import websockets
import json
import time
import os  # changed: token and URL from the environment
from typing import Optional

class RelayClient:
    def __init__(self, app_token: str):
        self.app_token = app_token
        self.uri = os.environ["RELAY_URL"]  # changed: was "wss://api.relay.ckgworks.com/v1/ws/app"
        self.websocket = None
        self.agents = []
        self.pending_events = {}

    async def connect(self) -> bool:
        """Connect to Relay with retry logic"""
        retry_count = 0
        max_retries = 5

        while retry_count < max_retries:
            try:
                self.websocket = await websockets.connect(
                    self.uri,
                    extra_headers={"Authorization": f"Bearer {self.app_token}"}
                )
                print("Connected to Relay")
                return True

            except Exception as e:
                retry_count += 1
                delay = min(2 ** retry_count, 60)
                print(f"Connection failed: {e}. Retrying in {delay}s...")
                await asyncio.sleep(delay)

        return False

    async def discover_agents(self):
        """Get list of available agents"""
        await self.websocket.send(json.dumps({"type": "discover"}))
        response = await self.websocket.recv()
        data = json.loads(response)

        if data["type"] == "agents":
            self.agents = data["agents"]
            print(f"Discovered {len(self.agents)} agents")
            return self.agents

        return []

    async def send_event(
        self,
        agent_id: str,
        thread_id: str,
        payload: dict
    ) -> Optional[str]:
        """Send an event and return event_id on acceptance"""
        event = {
            "type": "event",
            "agent_id": agent_id,
            "thread_id": thread_id,
            "payload": payload
        }

        await self.websocket.send(json.dumps(event))
        print(f"Sent event to {agent_id} for {thread_id}")

        # Wait for acceptance
        response = await self.websocket.recv()
        data = json.loads(response)

        if data["type"] == "accepted":
            event_id = data["event_id"]
            self.pending_events[event_id] = {
                "agent_id": agent_id,
                "thread_id": thread_id,
                "tokens": [],
                "started_at": time.time()
            }
            return event_id
        else:
            print(f"Event rejected: {data}")
            return None

    async def receive_messages(self):
        """Listen for incoming messages (tokens, replies, errors)"""
        try:
            async for message in self.websocket:
                data = json.loads(message)

                if data["type"] == "ping":
                    await self.websocket.send(json.dumps({"type": "pong"}))

                elif data["type"] == "token":
                    event_id = data["event_id"]
                    token = data["token"]
                    if event_id in self.pending_events:
                        self.pending_events[event_id]["tokens"].append(token)
                        print(token, end="", flush=True)

                elif data["type"] == "reply":
                    event_id = data["event_id"]
                    if event_id in self.pending_events:
                        event = self.pending_events.pop(event_id)
                        print()
                        print(f"\nReply complete!")
                        print(f"Full text: {data['reply']}")
                        print(f"Tokens: {data['metadata']['tokens_used']}")
                        print(f"Latency: {data['metadata']['latency_ms']}ms")
                        return  # changed: exit after the first reply

                elif data["type"] == "error":
                    event_id = data.get("event_id")
                    print(f"Error: {data['error']} ({data['code']})")
                    if event_id and event_id in self.pending_events:
                        self.pending_events.pop(event_id)

        except Exception as e:
            print(f"Receive loop error: {e}")

    async def heartbeat(self):
        """Send periodic heartbeats"""
        while True:
            try:
                await asyncio.sleep(30)
                await self.websocket.send(json.dumps({"type": "ping"}))
            except Exception as e:
                print(f"Heartbeat error: {e}")
                break

    async def run(self):
        """Main loop"""
        if not await self.connect():
            return

        # Start heartbeat task
        heartbeat_task = asyncio.create_task(self.heartbeat())

        # Discover agents
        await self.discover_agents()

        # Send example event
        event_id = await self.send_event(
            agent_id="athena",
            thread_id="task-123",
            payload={
                "event": "comment.mention",
                "message": "@athena summarize this task",
                "task_id": "task-123",
                "task_title": "Q2 Roadmap Review"
            }
        )

        # Start receive task
        # changed: started only now. The seed starts it before discover_agents(), so two
        # coroutines call recv() at once and websockets refuses the second ("cannot call recv
        # while another coroutine is already waiting for the next message"): the receive loop
        # dies and no token or reply is ever printed.
        receive_task = asyncio.create_task(self.receive_messages())

        # Wait a bit for reply to complete
        # changed: wait for the receive loop (which now ends after the first reply), still at
        # most 10 s, instead of always sleeping 10 s
        try:
            await asyncio.wait_for(receive_task, 10)
        except asyncio.TimeoutError:
            print("No reply within 10s")

        # Clean up
        heartbeat_task.cancel()
        receive_task.cancel()
        await self.websocket.close()

# Usage
async def main():
    client = RelayClient(os.environ["RELAY_TOKEN"])  # changed: was "rlk_yourapp_x8k2m9p..."
    await client.run()

if __name__ == "__main__":
    asyncio.run(main())
