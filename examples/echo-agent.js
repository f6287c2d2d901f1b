#!/usr/bin/env node
// A minimal Relay agent: answers every event with a short fake answer, streamed one character
// per `token` frame, then a final `reply` that echoes the payload.
//
//   RELAY_URL=ws://localhost:8080 RELAY_TOKEN=rla_athena_... node examples/echo-agent.js
//
// Environment:
//   RELAY_URL        base URL of a relay node (default ws://localhost:8080); /v1/ws/agent is appended
//   RELAY_TOKEN      the agent's token (rla_<agent_id>_<secret>), sent as `Authorization: Bearer`
//   ECHO_TOKEN_MS    milliseconds between token frames (default 20)
//
// What it shows: the subprotocol handshake, streaming, `cancel`, deduplicating redeliveries by
// event_id (delivery is at least once), reconnecting with exponential backoff, and a clean exit.
'use strict';

const WebSocket = require('ws');

const BASE_URL = (process.env.RELAY_URL || 'ws://localhost:8080').replace(/\/+$/, '');
const URL = `${BASE_URL}/v1/ws/agent`;
const TOKEN = (process.env.RELAY_TOKEN || '').trim();
const TOKEN_MS = Number(process.env.ECHO_TOKEN_MS || 20);
const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30000;
/** A connection that stayed up this long is healthy: the next drop starts the backoff again at 1 s. */
const HEALTHY_AFTER_MS = 10000;
/** How many answered event ids to remember for deduplication. */
const REMEMBER = 10000;

if (!TOKEN) {
  console.error('echo-agent: RELAY_TOKEN is not set.');
  console.error('Start the relay with `npm start`; it prints a development agent token (rla_...). Then run:');
  console.error('  RELAY_TOKEN=rla_... node examples/echo-agent.js');
  process.exit(1);
}
if (!/^[\x21-\x7e]+$/.test(TOKEN)) {
  console.error('echo-agent: RELAY_TOKEN holds spaces or other characters no token has; copy it again.');
  process.exit(1);
}

const log = (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
const warn = (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

/**
 * event_id → the reply we sent, without its payload (or null when the event was cancelled).
 * Oldest first, at most REMEMBER entries: a few hundred bytes each, whatever the payloads weigh.
 */
const answered = new Map();
/** event_id → the timer streaming its tokens, for events being answered right now. */
const streaming = new Map();

let ws = null;
let backoffMs = BACKOFF_START_MS;
let reconnectTimer = null;
let stopping = false;

function remember(eventId, reply) {
  answered.set(eventId, reply);
  if (answered.size > REMEMBER) answered.delete(answered.keys().next().value);
}

function send(socket, frame) {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

/** The fake answer: says back what it was asked, so a user can see their message went round. */
function answerFor(payload) {
  let asked;
  if (payload && typeof payload === 'object' && typeof payload.message === 'string') asked = payload.message;
  else asked = JSON.stringify(payload);
  if (asked.length > 80) asked = `${asked.slice(0, 77)}...`;
  return `Echo: you said "${asked}". This is a fake answer from the echo agent.`;
}

function stopStreaming(eventId) {
  const timer = streaming.get(eventId);
  if (timer === undefined) return false;
  clearInterval(timer);
  streaming.delete(eventId);
  return true;
}

function onEvent(socket, event) {
  const id = event.event_id;
  const where = `app=${event.app_id} thread=${event.thread_id} attempt=${event.attempt}`;
  if (answered.has(id)) {
    // A redelivery of an event we already finished: never answer twice. If we did send a reply,
    // send the same reply again (it may not have reached the relay before the connection dropped).
    const reply = answered.get(id);
    if (reply) send(socket, { ...reply, payload: event.payload });
    log(`${id} ${where} duplicate: already ${reply ? 'answered, reply re-sent' : 'cancelled'}`);
    return;
  }
  if (streaming.has(id)) {
    log(`${id} ${where} duplicate: already being answered`);
    return;
  }

  const answer = answerFor(event.payload);
  const chars = Array.from(answer); // by code point: an emoji is one token, not two halves
  const started = Date.now();
  let i = 0;
  const timer = setInterval(() => {
    if (socket.readyState !== WebSocket.OPEN) {
      // The connection dropped mid-answer: the relay will redeliver the event (attempt + 1).
      stopStreaming(id);
      return;
    }
    if (i < chars.length) {
      send(socket, { type: 'token', event_id: id, token: chars[i++] });
      return;
    }
    stopStreaming(id);
    const reply = { type: 'reply', event_id: id, content: answer, finish_reason: 'stop', metadata: { model: 'echo-agent' } };
    send(socket, { ...reply, payload: event.payload }); // echo the app's payload back
    remember(id, reply);
    log(`${id} ${where} replied (${chars.length} chars in ${Date.now() - started} ms)`);
  }, TOKEN_MS);
  streaming.set(id, timer);
}

function onFrame(socket, text) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    warn(`ignoring a frame that is not JSON: ${String(text).slice(0, 200)}`);
    return;
  }
  switch (frame.type) {
    case 'event':
      onEvent(socket, frame);
      break;
    case 'cancel':
      if (stopStreaming(frame.event_id)) {
        remember(frame.event_id, null);
        log(`${frame.event_id} cancelled by the app: stopped streaming`);
      }
      break;
    case 'ping':
      send(socket, { type: 'pong' });
      break;
    case 'pong':
      break;
    case 'error':
      warn(`relay error ${frame.code}: ${frame.message}${frame.event_id ? ` (${frame.event_id})` : ''}`);
      break;
    default:
      break; // frames this example does not know about are ignored
  }
}

function connect() {
  reconnectTimer = null;
  let socket;
  try {
    socket = new WebSocket(URL, ['relay-agent'], { headers: { Authorization: `Bearer ${TOKEN}` } });
  } catch (err) {
    warn(`cannot connect to ${URL}: ${err.message} (RELAY_URL looks like ws://localhost:8080)`);
    process.exit(1);
  }
  ws = socket;
  let openedAt = 0;
  let refusedStatus = 0;

  socket.on('open', () => {
    openedAt = Date.now();
    log(`connected to ${URL} as an agent`);
  });
  socket.on('message', (data) => onFrame(socket, data.toString()));
  socket.on('unexpected-response', (req, res) => {
    // The relay refused the upgrade (401: bad token, 503: not ready, ...). Show why.
    refusedStatus = res.statusCode || 0;
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => (body += chunk));
    res.on('end', () => {
      let detail = body.trim();
      try {
        const parsed = JSON.parse(body);
        if (parsed && parsed.error && parsed.error.message) detail = parsed.error.message;
      } catch {
        // not JSON: show it as it is
      }
      warn(`upgrade refused: HTTP ${refusedStatus} ${res.statusMessage || ''}${detail ? ` - ${detail}` : ''}`);
      socket.terminate(); // ends the handshake; 'close' follows
    });
  });
  socket.on('error', (err) => {
    if (!refusedStatus) warn(`connection error: ${err.message}`);
  });
  socket.on('close', (code, reason) => {
    for (const id of [...streaming.keys()]) stopStreaming(id); // the relay redelivers these
    if (ws === socket) ws = null;
    if (stopping) return;
    if (refusedStatus === 401 || refusedStatus === 403 || refusedStatus === 404) {
      warn(refusedStatus === 401 ? 'the token was refused: check RELAY_TOKEN (an agent token, rla_...)' : `giving up (HTTP ${refusedStatus})`);
      process.exit(1);
    }
    if (code === 1008) {
      warn(`closed by the relay: ${code} ${reason.toString() || 'policy'} (token revoked?); not reconnecting`);
      process.exit(1);
    }
    if (openedAt && Date.now() - openedAt >= HEALTHY_AFTER_MS) backoffMs = BACKOFF_START_MS;
    const why = refusedStatus ? `HTTP ${refusedStatus}` : `${code}${reason.length ? ` ${reason.toString()}` : ''}`;
    log(`disconnected (${why}); reconnecting in ${backoffMs / 1000} s`);
    reconnectTimer = setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
  });
}

function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: closing`);
  if (reconnectTimer) clearTimeout(reconnectTimer);
  for (const id of [...streaming.keys()]) stopStreaming(id); // unanswered: the relay redelivers them
  const socket = ws;
  if (!socket || socket.readyState === WebSocket.CLOSED) process.exit(0);
  socket.once('close', () => process.exit(0));
  if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'agent stopping');
  else socket.terminate();
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

connect();
