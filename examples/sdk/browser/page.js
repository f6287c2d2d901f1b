// The page's script, bundled by serve.js with esbuild. It uses the same app client as Node: the
// browser build of @relay/sdk picks the global WebSocket and sends the token as ?token=.
import { createAppClient } from '@relay/sdk';

const $ = (id) => document.getElementById(id);
let client;
let clientKey = '';

function connect(url, token) {
  if (client && clientKey === `${url} ${token}`) return client;
  if (client) void client.close();
  clientKey = `${url} ${token}`;
  client = createAppClient({ url, token });
  client.on('state', ({ state, delayMs, error }) => {
    $('state').textContent = state + (delayMs !== undefined ? ` (next try in ${delayMs} ms)` : '');
    if (error) $('error').textContent = `${error.code}: ${error.message}`;
  });
  return client;
}

async function ask(event) {
  event.preventDefault();
  $('answer').textContent = $('final').textContent = $('error').textContent = '';
  $('send').disabled = true;
  try {
    const app = connect($('url').value, $('token').value);
    const handle = await app.send($('agent').value, `browser:demo:${Date.now()}`, { event: 'comment.mention', message: $('message').value });
    $('event').textContent = handle.eventId;
    for await (const token of handle.tokens) {
      if (token.seq === 0) $('answer').textContent = ''; // a redelivered answer starts over
      $('answer').textContent += token.text;
    }
    const reply = await handle.reply;
    $('answer').textContent = reply.content ?? '';
    $('final').textContent = `finish_reason=${reply.finish_reason} tokens_used=${reply.metadata.tokens_used} latency_ms=${reply.metadata.latency_ms}`;
  } catch (err) {
    $('error').textContent = `${err.code ?? 'error'}: ${err.message}`;
  } finally {
    $('send').disabled = false;
  }
}

async function start() {
  const config = await (await fetch('config.json')).json();
  $('url').value = config.relayUrl;
  $('token').value = config.token;
  $('agent').value = config.agent;
  $('message').value = '@athena summarize this discussion';
  $('ask').addEventListener('submit', ask);
}

void start();
