#!/usr/bin/env node
// Sends one event to an agent through Relay, streams the answer to the terminal, and exits.
//
//   RELAY_URL=ws://localhost:8080 RELAY_TOKEN=rlk_portal_... node examples/send-event.js "@athena summarize this discussion"
//
// Environment:
//   RELAY_URL         base URL of a relay node (default ws://localhost:8080); /v1/ws/app is appended
//   RELAY_TOKEN       the app's token (rlk_<app_id>_<secret>), sent as `Authorization: Bearer`
//   RELAY_AGENT       the agent to ask (default athena)
//   RELAY_TIMEOUT_MS  how long to wait for the final reply (default 60000)
//
// Exit status: 0 when the agent replied, 1 on an error frame, a refused connection or a timeout.
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const BASE_URL = (process.env.RELAY_URL || 'ws://localhost:8080').replace(/\/+$/, '');
const URL = `${BASE_URL}/v1/ws/app`;
const TOKEN = (process.env.RELAY_TOKEN || '').trim();
const AGENT = process.env.RELAY_AGENT || 'athena';
const TIMEOUT_MS = Number(process.env.RELAY_TIMEOUT_MS || 60000);
const MESSAGE = process.argv[2] || '@athena summarize this discussion';
const REF = 'send-event-1';

if (!TOKEN) {
  console.error('send-event: RELAY_TOKEN is not set.');
  console.error('Start the relay with `npm start`; it prints a development app token (rlk_...). Then run:');
  console.error('  RELAY_TOKEN=rlk_... node examples/send-event.js "@athena summarize this discussion"');
  process.exit(1);
}
if (!/^[\x21-\x7e]+$/.test(TOKEN)) {
  console.error('send-event: RELAY_TOKEN holds spaces or other characters no token has; copy it again.');
  process.exit(1);
}

const threadId = `portal:task-123:comment-${crypto.randomBytes(4).toString('hex')}`;
let eventId = null;
let streamed = false;
let done = false;
let refusedStatus = 0;

let ws;
try {
  ws = new WebSocket(URL, ['relay-app'], { headers: { Authorization: `Bearer ${TOKEN}` } });
} catch (err) {
  console.error(`send-event: cannot connect to ${URL}: ${err.message} (RELAY_URL looks like ws://localhost:8080)`);
  process.exit(1);
}

const timer = setTimeout(() => {
  finish(1, `\ntimed out after ${TIMEOUT_MS} ms without a reply${eventId ? ` to ${eventId}` : ''}` +
    (eventId ? ' (the event stays queued for the agent until its TTL ends)' : ''));
}, TIMEOUT_MS);

function finish(code, message) {
  if (done) return;
  done = true;
  clearTimeout(timer);
  if (message) (code === 0 ? process.stdout : process.stderr).write(`${message}\n`);
  process.exitCode = code;
  if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'done');
  else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  // Nothing else keeps the process alive; this only guards against a close handshake that hangs.
  setTimeout(() => process.exit(code), 2000).unref();
}

function endStream() {
  if (streamed) process.stdout.write('\n');
  streamed = false;
}

ws.on('open', () => {
  const event = {
    type: 'event',
    agent_id: AGENT,
    thread_id: threadId,
    ref: REF,
    payload: {
      event: 'comment.mention',
      message: MESSAGE,
      task_id: 'task-123',
      task_title: 'Q2 Roadmap Review',
      sender: { id: 'user-789', name: 'Sarah Chen' },
    },
  };
  process.stdout.write(`connected to ${URL}\nsending to ${AGENT} on thread ${threadId}: ${MESSAGE}\n`);
  ws.send(JSON.stringify(event));
});

ws.on('message', (data) => {
  let frame;
  try {
    frame = JSON.parse(data.toString());
  } catch {
    return;
  }
  // Only frames about our event: a relay may also hand this connection the final answers of
  // earlier events of the same app whose sender had gone.
  const ours = frame.ref === REF || (eventId !== null && frame.event_id === eventId);
  switch (frame.type) {
    case 'accepted':
      if (frame.ref !== REF) return;
      eventId = frame.event_id;
      process.stdout.write(
        `accepted event_id=${frame.event_id} session_key=${frame.session_key} queued=${frame.queued}\n` +
          (frame.queued ? `(${AGENT} is offline: the event waits in its queue until it connects)\n` : ''),
      );
      break;
    case 'token':
      if (!ours) return;
      if (!streamed) process.stdout.write('streaming: ');
      streamed = true;
      process.stdout.write(frame.token);
      break;
    case 'reply': {
      if (!ours) return;
      endStream();
      const metadata = frame.metadata || {};
      const text = frame.content !== undefined && frame.content !== null ? frame.content : frame.reply;
      if (frame.finish_reason === 'error') {
        finish(1, `reply finish_reason=error: ${frame.error || 'the agent failed'}`);
        return;
      }
      finish(
        0,
        `reply finish_reason=${frame.finish_reason} tokens_used=${metadata.tokens_used} latency_ms=${metadata.latency_ms}\n` +
          `${text}`,
      );
      break;
    }
    case 'error':
      // An error about our event, or about a frame with no event yet (e.g. ALLOWLIST_DENIED).
      if (!ours && frame.event_id) return;
      endStream();
      finish(1, `error ${frame.code}: ${frame.message || frame.error}`);
      break;
    case 'ping':
      ws.send(JSON.stringify({ type: 'pong' }));
      break;
    default:
      break;
  }
});

ws.on('unexpected-response', (req, res) => {
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
    const hint = refusedStatus === 401 ? '\ncheck RELAY_TOKEN: it must be an app token (rlk_...)' : '';
    finish(1, `upgrade refused: HTTP ${refusedStatus} ${res.statusMessage || ''}${detail ? ` - ${detail}` : ''}${hint}`);
  });
});

ws.on('error', (err) => {
  if (!refusedStatus) finish(1, `cannot talk to ${URL}: ${err.message}`);
});

ws.on('close', (code, reason) => {
  endStream();
  finish(1, `connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''}) before the reply`);
});

process.on('SIGINT', () => finish(130, '\ninterrupted'));
