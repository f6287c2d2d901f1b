#!/usr/bin/env node
// A page's own backend for @relay/sdk/react's useReplyStream: the app token stays here, the page
// talks only to this server.
//
//   POST /ask            body {"question": "..."} → sends an event to the agent over the relay's
//                        HTTP API, answers {"event_id": "evt_…"}
//   GET  /reply/:id      proxies GET /v1/events/:id/stream (SSE), passing Last-Event-ID through,
//                        so the hook's resume reaches the relay
//   GET  /, /page.js     page.html and page.jsx bundled with React (esbuild, at start)
//
//   RELAY_URL=http://localhost:8080 RELAY_TOKEN=rlk_portal_... PORT=3000 node examples/react-reply-stream/server.js
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

/** page.jsx with React and @relay/sdk/react, bundled for the browser. */
async function bundlePage() {
  const esbuild = require('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(__dirname, 'page.jsx')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

/** The backend as a node:http server (not listening yet); `pageJs` is bundlePage()'s output. */
function createBackend({ relayUrl, token, agent = 'athena', pageJs = '' }) {
  const relay = relayUrl.replace(/\/+$/, '');
  const auth = { authorization: `Bearer ${token}` };
  return http.createServer(async (req, res) => {
    try {
      if (req.method === 'POST' && req.url === '/ask') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const question = String(JSON.parse(body || '{}').question || '');
        const answer = await fetch(`${relay}/v1/events`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ agent_id: agent, thread_id: 'page:ask', payload: { question } }),
        });
        const frame = await answer.json();
        res.writeHead(answer.status === 202 ? 200 : answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.status === 202 ? { event_id: frame.event_id } : frame));
        return;
      }
      const reply = /^\/reply\/(evt_[0-9A-Za-z]+)$/.exec(req.url || '');
      if (req.method === 'GET' && reply) {
        const last = req.headers['last-event-id'];
        const upstream = await fetch(`${relay}/v1/events/${reply[1]}/stream`, {
          headers: { ...auth, accept: 'text/event-stream', ...(typeof last === 'string' ? { 'last-event-id': last } : {}) },
        });
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') || 'application/json', 'cache-control': 'no-cache' });
        req.on('close', () => upstream.body?.cancel().catch(() => {}));
        if (!upstream.body) return res.end();
        for await (const chunk of upstream.body) res.write(chunk);
        res.end();
        return;
      }
      if (req.method === 'GET' && req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(fs.readFileSync(path.join(__dirname, 'page.html')));
        return;
      }
      if (req.method === 'GET' && req.url === '/page.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(pageJs);
        return;
      }
      if (req.url === '/favicon.ico') {
        res.writeHead(204);
        res.end();
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
    } catch (err) {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(err && err.message) }));
    }
  });
}

module.exports = { createBackend, bundlePage };

if (require.main === module) {
  const token = (process.env.RELAY_TOKEN || '').trim();
  if (!token) {
    console.error('react-reply-stream: set RELAY_TOKEN to an app token (rlk_...)');
    process.exit(1);
  }
  const port = Number(process.env.PORT || 3000);
  bundlePage().then((pageJs) =>
    createBackend({ relayUrl: process.env.RELAY_URL || 'http://localhost:8080', token, pageJs }).listen(port, () =>
      console.log(`react-reply-stream: open http://localhost:${port}`),
    ),
  );
}
