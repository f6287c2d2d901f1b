#!/usr/bin/env node
// Bundles page.js with esbuild (browser platform: the SDK's browser build, no `ws`) and serves
// the page, so the app client can be tried in a browser.
//
//   RELAY_TOKEN=rlk_portal_... node examples/sdk/browser/serve.js     then open the printed URL
//
// Environment: RELAY_URL (default ws://localhost:8080) and RELAY_TOKEN prefill the form;
// RELAY_AGENT (default athena); PORT (default 8090; 0 picks a free one); HOST (default 127.0.0.1).
// The token is handed to the page: fine for a local demo, never for a page served to users.
'use strict';

const http = require('node:http');
const path = require('node:path');
const { readFileSync } = require('node:fs');
const esbuild = require('esbuild');

async function main() {
  const result = await esbuild.build({
    entryPoints: [path.join(__dirname, 'page.js')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    minify: true,
    metafile: true,
  });
  const bundle = result.outputFiles[0].text;
  // Which packages went in: the browser build must hold the SDK, the protocol and zod, no `ws`.
  const packages = [...new Set(Object.keys(result.metafile.inputs).map((file) => {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file) || /packages\/([^/]+)\//.exec(file);
    if (!match) return 'page';
    return file.includes('node_modules/') ? match[1] : `@relay/${match[1]}`;
  }))].sort();
  const files = {
    '/': ['text/html; charset=utf-8', readFileSync(path.join(__dirname, 'index.html'))],
    '/page.js': ['text/javascript; charset=utf-8', bundle],
    '/config.json': ['application/json', JSON.stringify({
      relayUrl: process.env.RELAY_URL || 'ws://localhost:8080',
      token: process.env.RELAY_TOKEN || '',
      agent: process.env.RELAY_AGENT || 'athena',
    })],
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file) return res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': file[0], 'cache-control': 'no-store' }).end(file[1]);
  });
  server.listen(Number(process.env.PORT ?? 8090), process.env.HOST || '127.0.0.1', () => {
    const { address, port } = server.address();
    console.log(`bundled page.js: ${(bundle.length / 1024).toFixed(0)} KiB from ${packages.join(', ')}`);
    console.log(`open http://${address}:${port}/`);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
}

main().catch((err) => {
  console.error(`serve: ${err.message}`);
  process.exit(1);
});
