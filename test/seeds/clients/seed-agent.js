// Seed 000 ("Sending Your First Event"), "Full Example: Node.js Agent", as the user wrote it.
// Changes, each marked below:
//  - AGENT_TOKEN and RELAY_URL come from the environment (RELAY_TOKEN, and RELAY_URL = the full
//    agent endpoint, e.g. ws://localhost:8080/v1/ws/agent);
//  - SEED_TOKEN_INTERVAL_MS may shorten the 50 ms between tokens;
//  - `payload.comments` may be missing (seed 001's apps send no comments): the seed reads
//    `payload.comments.length`, which would throw and kill the agent on such an event.
const WebSocket = require("ws");
const { Readable } = require("stream");

const AGENT_TOKEN = process.env.RELAY_TOKEN; // changed: from the environment
const RELAY_URL = process.env.RELAY_URL; // changed: from the environment
const TOKEN_INTERVAL_MS = Number(process.env.SEED_TOKEN_INTERVAL_MS || 50); // changed: configurable

const ws = new WebSocket(RELAY_URL, ["relay-agent"], {
  headers: {
    Authorization: `Bearer ${AGENT_TOKEN}`,
  },
});

ws.on("open", () => {
  console.log("Agent connected to Relay\n");
});

ws.on("message", (data) => {
  const message = JSON.parse(data);

  if (message.type === "event") {
    const eventId = message.event_id;
    const payload = message.payload;

    console.log(`← Event received: ${eventId}`);
    console.log(`  Task: ${payload.task_title}\n`);

    // Simulate agent generating a response
    // changed: `(payload.comments || [])` instead of `payload.comments`
    const response = `This discussion covers the main topics: ${(payload.comments || []).length} comments discussing priorities.`;

    // 1. Stream tokens (one at a time)
    let charIndex = 0;
    const tokenInterval = setInterval(() => {
      if (charIndex < response.length) {
        const token = response.charAt(charIndex);
        ws.send(JSON.stringify({
          type: "token",
          event_id: eventId,
          token: token
        }));
        charIndex++;
      } else {
        // 2. Send final reply
        clearInterval(tokenInterval);
        ws.send(JSON.stringify({
          type: "reply",
          event_id: eventId,
          content: response,
          finish_reason: "stop",
          payload: payload  // Echo back original
        }));
        console.log(`→ Reply sent (${response.length} chars)\n`);
      }
    }, TOKEN_INTERVAL_MS); // changed: 50ms between tokens unless SEED_TOKEN_INTERVAL_MS says otherwise
  }
});

ws.on("close", () => {
  console.log("Connection closed");
});

ws.on("error", (err) => {
  console.error("Error:", err);
});
