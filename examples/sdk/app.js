#!/usr/bin/env node
// An app on @relay/sdk: discovers the agents, sends one event, streams the answer, prints the
// final reply, and exits (0 on a reply, 1 on an error).
//
//   RELAY_TOKEN=rlk_portal_... node examples/sdk/app.js "@athena summarize this discussion"
//
// Environment: RELAY_URL (default ws://localhost:8080), RELAY_TOKEN (an app token, rlk_...),
// RELAY_AGENT (default athena), RELAY_TIMEOUT_MS (give up and cancel after this, default 60000).
'use strict';

const { randomUUID } = require('node:crypto');
const { createAppClient } = require('@relay/sdk');

const TOKEN = process.env.RELAY_TOKEN;
const AGENT = process.env.RELAY_AGENT || 'athena';
const TIMEOUT_MS = Number(process.env.RELAY_TIMEOUT_MS || 60000);
const MESSAGE = process.argv[2] || '@athena summarize this discussion';
if (!TOKEN) {
  console.error('app: RELAY_TOKEN is not set. `npm start` prints a development app token (rlk_...).');
  process.exit(1);
}

async function main(app) {
  const agents = await app.discover();
  console.log(`agents: ${agents.map((a) => `${a.id} (${a.status})`).join(', ')}`);
  const handle = await app.send(AGENT, `portal:task-123:comment-${randomUUID().slice(0, 8)}`, {
    event: 'comment.mention',
    message: MESSAGE,
    task_id: 'task-123',
  });
  console.log(`accepted ${handle.eventId} session=${handle.accepted.session_key} queued=${handle.accepted.queued}`);
  const timer = setTimeout(() => handle.cancel(), TIMEOUT_MS);
  process.stdout.write('streaming: ');
  for await (const token of handle.tokens) process.stdout.write(token.text);
  const reply = await handle.reply.finally(() => clearTimeout(timer));
  console.log(`\nreply finish_reason=${reply.finish_reason} tokens_used=${reply.metadata.tokens_used} latency_ms=${reply.metadata.latency_ms}`);
  console.log(reply.content ?? `(the agent failed: ${reply.error})`);
  return reply.finish_reason === 'error' ? 1 : 0;
}

const app = createAppClient({ url: process.env.RELAY_URL || 'ws://localhost:8080', token: TOKEN });
main(app)
  .catch((err) => {
    console.error(`\nerror ${err.code || ''}: ${err.message}`);
    return 1;
  })
  .then(async (code) => {
    await app.close();
    process.exitCode = code;
  });
