// Seed 001 ("Code Examples"), "Node.js (ws library)": the RelayClient as the user wrote it (the
// seed's indentation was lost in the document and is kept that way). Changes, each marked
// "changed:" below:
//  - the token and URL come from the environment (RELAY_TOKEN, and RELAY_URL = the full app
//    endpoint, e.g. ws://localhost:8080/v1/ws/app);
//  - sendEvent() takes the event_id from `accepted` instead of matching an id made up locally;
//  - the process exits after the first reply.
const WebSocket = require('ws');

class RelayClient {
constructor(appToken) {
this.appToken = appToken;
this.uri = process.env.RELAY_URL; // changed: was 'wss://api.relay.ckgworks.com/v1/ws/app'
this.ws = null;
this.agents = [];
this.pendingEvents = {};
}

async connect() {
return new Promise((resolve, reject) => {
try {
this.ws = new WebSocket(this.uri, {
headers: {
'Authorization': `Bearer ${this.appToken}`
}
});

this.ws.on('open', () => {
console.log('Connected to Relay');
resolve(true);
});

this.ws.on('close', () => {
console.log('Disconnected from Relay');
this.reconnectWithBackoff();
});

this.ws.on('error', (error) => {
console.error('WebSocket error:', error);
reject(error);
});

this.setupMessageHandler();
} catch (error) {
reject(error);
}
});
}

setupMessageHandler() {
this.ws.on('message', (message) => {
const data = JSON.parse(message);
if (data.type === 'ping') {
this.ws.send(JSON.stringify({ type: 'pong' }));
} else if (data.type === 'agents') {
this.agents = data.agents;
console.log(`Discovered ${data.agents.length} agents`);
} else if (data.type === 'token') {
const eventId = data.event_id;
if (this.pendingEvents[eventId]) {
this.pendingEvents[eventId].tokens.push(data.token);
process.stdout.write(data.token);
}
} else if (data.type === 'reply') {
const eventId = data.event_id;
if (this.pendingEvents[eventId]) {
delete this.pendingEvents[eventId];
console.log('\nReply complete!');
console.log(`Full text: ${data.reply}`);
console.log(`Tokens: ${data.metadata.tokens_used}`);
console.log(`Latency: ${data.metadata.latency_ms}ms`);
process.exit(0); // changed: exit after the first reply
}
} else if (data.type === 'error') {
console.error(`Error: ${data.error} (${data.code})`);
const eventId = data.event_id;
if (eventId && this.pendingEvents[eventId]) {
delete this.pendingEvents[eventId];
}
}
});
}

discover() {
return new Promise((resolve) => {
const handler = (message) => {
const data = JSON.parse(message);
if (data.type === 'agents') {
this.ws.removeEventListener('message', handler);
resolve(data.agents);
}
};

this.ws.on('message', handler);
this.ws.send(JSON.stringify({ type: 'discover' }));
});
}

sendEvent(agentId, threadId, payload) {
return new Promise((resolve) => {
const event = {
type: 'event',
agent_id: agentId,
thread_id: threadId,
payload: payload
};

const handler = (message) => {
const data = JSON.parse(message);
// changed: the seed compares data.event_id with an id it made up itself (below), which the
// relay never sees, so this never matched, sendEvent() never resolved and no token or reply
// was ever printed. Relay generates event_id and returns it in `accepted` (seed 001's own
// "Common Mistakes": "Generating event_id client-side"), so take it from there.
// Was: if (data.event_id === eventId && data.type === 'accepted') {
if (data.type === 'accepted') {
const eventId = data.event_id;
this.ws.removeEventListener('message', handler);
this.pendingEvents[eventId] = {
agentId: agentId,
threadId: threadId,
tokens: []
};
resolve(eventId);
}
};

this.ws.on('message', handler);
this.ws.send(JSON.stringify(event));
console.log(`Sent event to ${agentId}`);

// changed: removed, see above. Was:
// // Generate event_id locally (Relay will echo it back)
// const eventId = `evt_${Math.random().toString(36).substr(2, 5)}`;
});
}

startHeartbeat() {
setInterval(() => {
if (this.ws && this.ws.readyState === WebSocket.OPEN) {
this.ws.send(JSON.stringify({ type: 'ping' }));
}
}, 30000);
}

reconnectWithBackoff(retryCount = 0, maxRetries = 5) {
if (retryCount >= maxRetries) {
console.error('Max retries exceeded');
return;
}

const delay = Math.min(1000 * Math.pow(2, retryCount), 60000);
console.log(`Reconnecting in ${delay}ms...`);

setTimeout(async () => {
try {
await this.connect();
} catch (error) {
this.reconnectWithBackoff(retryCount + 1, maxRetries);
}
}, delay);
}

async run() {
try {
await this.connect();
this.startHeartbeat();

const agents = await this.discover();
console.log(`Available agents: ${agents.map((a) => a.name).join(', ')}`);

const eventId = await this.sendEvent(
'athena',
'task-123',
{
event: 'comment.mention',
message: '@athena summarize this task',
task_id: 'task-123',
task_title: 'Q2 Roadmap Review'
}
);

console.log(`Event ${eventId} sent`);

// Keep connection open
await new Promise(() => {});
} catch (error) {
console.error('Error:', error);
}
}
}

// Usage
const client = new RelayClient(process.env.RELAY_TOKEN); // changed: was 'rlk_yourapp_x8k2m9p...'
client.run();
