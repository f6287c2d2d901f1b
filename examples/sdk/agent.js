#!/usr/bin/env node
// An agent on @relay/sdk: answers every event with a fake LLM answer, streamed word by word.
//
//   RELAY_TOKEN=rla_athena_... node examples/sdk/agent.js
//
// Environment: RELAY_URL (default ws://localhost:8080), RELAY_TOKEN (an agent token, rla_...),
// FAKE_LLM_WORD_MS (delay between words, default 40).
//
// The SDK does the rest: reconnects with backoff, answers pings, runs each event once however
// often the relay redelivers it, stops the handler when the app cancels (reply.signal), and
// answers finish_reason "error" if the handler throws. Ctrl-C closes cleanly.
'use strict';

const { createAgentClient } = require('@relay/sdk');
const { fakeLlmHandler } = require('./fake-llm');

const TOKEN = process.env.RELAY_TOKEN;
const WORD_MS = Number(process.env.FAKE_LLM_WORD_MS || 40);
if (!TOKEN) {
  console.error('agent: RELAY_TOKEN is not set. `npm start` prints a development agent token (rla_...).');
  process.exit(1);
}

const agent = createAgentClient({ url: process.env.RELAY_URL || 'ws://localhost:8080', token: TOKEN, concurrency: 8 });

agent.on('state', ({ state, delayMs, error }) => {
  console.log(`state ${state}${delayMs !== undefined ? ` (next try in ${delayMs} ms)` : ''}`);
  if (error) {
    console.error(`agent: ${error.code}: ${error.message}`);
    process.exit(1);
  }
});

agent.onEvent(fakeLlmHandler(WORD_MS));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.log(`${signal}: closing`);
    agent.close().then(() => process.exit(0));
  });
}
