#!/usr/bin/env node
// @ts-check
// The client side of bench:connections, in its own process so its sockets' memory and CPU are
// not the node's: opens idle app sockets when told (IPC `{ open, url, token }`), from source
// addresses 127.0.0.1..127.0.0.N in turn so the count can pass one address's ephemeral ports,
// answers the relay's pings, and reports `{ opened, failed, ms, firstError }`.
const { performance } = require('node:perf_hooks');
const WebSocket = require('ws');

const SOURCES = Number(process.env.BENCH_SOURCES ?? 8);
const CONCURRENCY = 64; // upgrades under way at once: enough to keep the node busy, no storm
/** @type {WebSocket[]} */
const sockets = [];

/** @param {string} url @param {string} token @returns {Promise<void>} */
function openOne(url, token) {
  const ws = new WebSocket(`${url}/v1/ws/app`, {
    headers: { Authorization: `Bearer ${token}` },
    perMessageDeflate: false,
    localAddress: `127.0.0.${1 + (sockets.length % SOURCES)}`,
  });
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.on('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.on('message', (/** @type {Buffer} */ data) => {
      if (data.includes('"ping"')) ws.send('{"type":"pong"}');
    });
  });
}

process.on('message', async (/** @type {{ open: number, url: string, token: string }} */ msg) => {
  const start = performance.now();
  let opened = 0;
  let failed = 0;
  /** @type {string | undefined} */
  let firstError;
  let left = msg.open;
  const worker = async () => {
    while (left > 0) {
      left--;
      try {
        await openOne(msg.url, msg.token);
        opened++;
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = performance.now() - start;
  const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  process.send?.({ opened, failed, ms, open, firstError });
});
process.on('disconnect', () => process.exit(0));
