#!/usr/bin/env node
// An agent over HTTP on @relay/sdk, served by Node's own http server: no WebSocket. The relay
// POSTs each event to this server (the agent's webhook_url in the registry) and streams back
// what the handler writes, token by token.
//
//   WEBHOOK_SECRET=whsec_... PORT=8090 node examples/sdk/http-agent.js
//
// and, in the registry file, for the agent:
//   webhook_url: http://127.0.0.1:8090/
//   webhook_secret: whsec_...   (the same secret: it signs every POST)
//
// Environment: WEBHOOK_SECRET (required), PORT (default 8090), FAKE_LLM_WORD_MS (default 40).
//
// The handler is examples/sdk/agent.js's (fake-llm.js): createHttpAgentHandler turns
// it into a fetch-API handler `(Request) => Response`, which Bun, Deno and edge runtimes serve as
// it is; on Node, the few lines of `serve` below adapt node:http to it.
'use strict';

const http = require('node:http');
const { Readable } = require('node:stream');
const { createHttpAgentHandler } = require('@relay/sdk');
const { fakeLlmHandler } = require('./fake-llm');

const SECRET = process.env.WEBHOOK_SECRET;
const PORT = Number(process.env.PORT || 8090);
const WORD_MS = Number(process.env.FAKE_LLM_WORD_MS || 40);
if (!SECRET) {
  console.error('http-agent: WEBHOOK_SECRET is not set (the agent\'s webhook_secret, whsec_...).');
  process.exit(1);
}

const handler = createHttpAgentHandler(SECRET, fakeLlmHandler(WORD_MS));

/** node:http to a fetch-API handler and back, streaming the answer as it is written. */
function serve(fetchHandler) {
  return http.createServer(async (req, res) => {
    const aborted = new AbortController();
    res.on('close', () => aborted.abort());
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const request = new Request(`http://${req.headers.host || 'localhost'}${req.url}`, {
        method: req.method,
        headers: Object.entries(req.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : v === undefined ? [] : [[k, v]])),
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks),
        signal: aborted.signal,
      });
      const response = await fetchHandler(request);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body) Readable.fromWeb(response.body).pipe(res);
      else res.end();
    } catch (err) {
      console.error(`http-agent: ${err instanceof Error ? err.message : err}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  });
}

const server = serve(handler).listen(PORT, () => console.log(`listening on ${server.address().port}`));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.log(`${signal}: closing`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
