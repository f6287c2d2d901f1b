#!/usr/bin/env node
// @ts-check
// The comparison for `npm run bench:socketio`: the smallest Socket.IO 4 relay that does Relay's
// job in the benchmark, one node of it per process, nodes joined by @socket.io/redis-adapter.
// Apps and agents authenticate with the registry's bearer tokens; an app's `event` is given an
// id and routed to its agent's room; the agent's `token`s and `reply` are checked (the agent
// may serve that app, the fields are strings) and routed to the app's room. No durability, no
// queue, no timeline: what Socket.IO gives for the routing, which is what the bench compares.
// Env: PORT, REDIS_URL, REGISTRY (the bench's registry file), NODE_ID.
const { createServer } = require('node:http');
const { readFileSync } = require('node:fs');
const { createAdapter } = require('@socket.io/redis-adapter');
const { Redis } = require('ioredis');
const { Server } = require('socket.io');

/** @type {{ apps: { id: string, tokens: string[] }[], agents: { id: string, tokens: string[], allow_apps: string[] }[] }} */
const registry = JSON.parse(readFileSync(String(process.env.REGISTRY), 'utf8'));
/** @type {Map<string, { role: 'app' | 'agent', id: string, allow?: Set<string> }>} */
const byToken = new Map();
for (const app of registry.apps) for (const t of app.tokens) byToken.set(t, { role: 'app', id: app.id });
for (const agent of registry.agents) {
  for (const t of agent.tokens) byToken.set(t, { role: 'agent', id: agent.id, allow: new Set(agent.allow_apps) });
}

const pub = new Redis(String(process.env.REDIS_URL));
const sub = pub.duplicate();
const http = createServer((req, res) => {
  res.writeHead(req.url === '/readyz' ? 200 : 404).end();
});
const io = new Server(http, {
  adapter: createAdapter(pub, sub),
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
});
const nodeId = process.env.NODE_ID ?? 'sio';
let sequence = 0;

io.use((socket, next) => {
  const who = byToken.get(String(socket.handshake.auth?.token ?? ''));
  if (!who) return next(new Error('unauthorized'));
  socket.data.who = who;
  next();
});

/** @param {unknown} v */
const isString = (v) => typeof v === 'string';

io.on('connection', (socket) => {
  const who = socket.data.who;
  if (who.role === 'app') {
    socket.join(`app:${who.id}`);
    socket.on('event', (/** @type {{ agent_id?: unknown, thread_id?: unknown, payload?: unknown }} */ frame) => {
      if (!frame || !isString(frame.agent_id) || !isString(frame.thread_id)) return socket.emit('error_frame', { code: 'INVALID_MESSAGE' });
      const eventId = `evt_${nodeId}${(sequence++).toString(36)}`;
      socket.emit('accepted', { event_id: eventId });
      io.to(`agent:${frame.agent_id}`).emit('event', { event_id: eventId, app_id: who.id, thread_id: frame.thread_id, payload: frame.payload });
    });
    return;
  }
  socket.join(`agent:${who.id}`);
  /** @param {'token' | 'reply'} type */
  const relay = (type) => (/** @type {{ event_id?: unknown, app_id?: unknown, token?: unknown }} */ frame) => {
    if (!frame || !isString(frame.event_id) || !isString(frame.app_id) || !who.allow.has(frame.app_id) || (type === 'token' && !isString(frame.token))) {
      return socket.emit('error_frame', { code: 'INVALID_MESSAGE' });
    }
    const { app_id: appId, ...rest } = frame;
    io.to(`app:${appId}`).emit(type, rest);
  };
  socket.on('token', relay('token'));
  socket.on('reply', relay('reply'));
});

http.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write(`socket.io node ${nodeId} listening\n`));
process.on('SIGTERM', () => {
  io.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
});
