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

const TOKEN = process.env.RELAY_TOKEN;
const WORD_MS = Number(process.env.FAKE_LLM_WORD_MS || 40);
if (!TOKEN) {
  console.error('agent: RELAY_TOKEN is not set. `npm start` prints a development agent token (rla_...).');
  process.exit(1);
}

/** A stand-in for a model: the answer, word by word, until the signal fires. */
async function* fakeLlm(prompt, signal) {
  const answer = `Here is what I make of "${prompt}": the team agreed to ship mobile first, ` +
    'to review the Q2 roadmap on Friday, and to keep the beta small until the crash rate drops.';
  for (const word of answer.split(/(?<= )/)) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, WORD_MS);
      signal.addEventListener('abort', () => resolve(clearTimeout(timer)), { once: true });
    });
    if (signal.aborted) return;
    yield word;
  }
}

const agent = createAgentClient({ url: process.env.RELAY_URL || 'ws://localhost:8080', token: TOKEN, concurrency: 8 });

agent.on('state', ({ state, delayMs, error }) => {
  console.log(`state ${state}${delayMs !== undefined ? ` (next try in ${delayMs} ms)` : ''}`);
  if (error) {
    console.error(`agent: ${error.code}: ${error.message}`);
    process.exit(1);
  }
});

agent.onEvent(async (event, reply) => {
  const prompt = typeof event.payload?.message === 'string' ? event.payload.message : JSON.stringify(event.payload);
  let text = '';
  for await (const word of fakeLlm(prompt, reply.signal)) {
    reply.token(word);
    text += word;
  }
  if (reply.signal.aborted) return console.log(`${event.event_id} cancelled: stopped after ${text.length} chars`);
  console.log(`${event.event_id} from ${event.app_id} answered (${text.length} chars)`);
  return reply.done(text, { metadata: { model: 'fake-llm' } });
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.log(`${signal}: closing`);
    agent.close().then(() => process.exit(0));
  });
}
