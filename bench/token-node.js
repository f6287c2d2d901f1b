#!/usr/bin/env node
// @ts-check
// The gateway's own work on agent token frames, in one process: a relay on the memory backend,
// an agent and an app socket on it (stand-ins that keep nothing), and bench:cluster's token
// frames handed to the relay as if read off the agent's socket: parse, the frame queue, the
// token's recording and counters, the app's token frame and its write. No Redis, bus or kernel
// work, so what it measures is the node's JavaScript per token, which a shared machine blurs in
// bench:cluster. Several builds (e.g. before and after a change) run in alternating rounds.
// Usage: NODE_PATH=node_modules node bench/token-node.js [--rounds R] [BUILD ...]
//   BUILD: a directory holding `protocol/` and `gateway/`, copies of packages/protocol/dist and
//   packages/gateway/dist (default: this repository's own dist directories). Each build's
//   gateway is given its own protocol (a `node_modules/@relay/protocol` is made beside them).
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values, positionals } = parseArgs({ options: { rounds: { type: 'string' } }, allowPositionals: true });
const rounds = Number(values.rounds ?? 7);
const FRAMES = 2_000; // per event: one event per batch, so its record never reaches the cap
const BATCHES = 40; // per round

/** A build's gateway modules, with `@relay/protocol` resolved to the build's own protocol. */
function loadBuild(/** @type {string} */ dir) {
  const pkg = path.join(dir, 'node_modules/@relay/protocol');
  if (!fs.existsSync(pkg)) {
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@relay/protocol', main: '../../../protocol/index.js' }));
  }
  return gatewayAt(path.join(dir, 'gateway'));
}

/** What the relay on the memory backend needs, as packages/gateway/src/testing/in-process.ts builds it. */
function gatewayAt(/** @type {string} */ dist) {
  const at = (/** @type {string} */ file) => require(path.join(dist, file));
  return {
    ...at('backends/memory/index.js'),
    ...at('registry-file.js'),
    ...at('config.js'),
    ...at('relay/context.js'),
    ...at('relay/metrics.js'),
    ...at('relay/relay.js'),
  };
}

const builds = positionals.length
  ? positionals.map((d) => ({ name: d, lib: loadBuild(path.resolve(d)) }))
  : [{ name: 'packages/gateway/dist', lib: gatewayAt(path.resolve(__dirname, '../packages/gateway/dist')) }];

/** A socket that keeps nothing; the agent's frames are read for the event id only. */
function sink(/** @type {string} */ id, /** @type {'agent' | 'app'} */ role, /** @type {string} */ principalId) {
  /** @type {string | undefined} */
  let lastEvent;
  let bytes = 0;
  const send = (/** @type {string} */ text) => {
    bytes += text.length;
    if (role === 'agent' && text.startsWith('{"type":"event"')) lastEvent = JSON.parse(text).event_id;
    return true;
  };
  const conn = {
    id,
    role,
    principal: { role, id: principalId, tokenId: `tok-${principalId}` },
    since: Date.now(),
    channel: 'socket',
    send,
    backedUp: () => false,
    whenDrained: () => {},
    sendFinal: (/** @type {string} */ _eventId, /** @type {string} */ text) => send(text),
    hasSentFinal: () => false,
    close: () => {},
  };
  return { conn, event: () => lastEvent, bytes: () => bytes };
}

const until = async (/** @type {() => boolean} */ check) => {
  for (let i = 0; !check(); i++) {
    if (i > 5_000) throw new Error('timed out');
    await new Promise((resolve) => setImmediate(resolve));
  }
};

async function setUp(/** @type {any} */ lib) {
  const defaults = lib.loadConfig({});
  const registry = lib.toRegistryData(
    {
      apps: [{ id: 'portal', name: 'Portal', tokens: ['rlk_portal_0123456789abcdef0123456789'] }],
      agents: [{ id: 'athena', name: 'Athena', tokens: ['rla_athena_0123456789abcdef0123456789'], allow_apps: ['portal'] }],
    },
    60_000,
  );
  const backend = lib.createMemoryBackend({ registry, rateWindowMs: 60_000, finishedRetentionMs: defaults.finishedRetentionMs });
  const ctx = lib.createContext({
    nodeId: 'n1',
    backend,
    log: require('pino')({ level: 'silent' }),
    metrics: lib.createMetrics(),
    limits: {
      replyTimeoutMs: 60_000,
      maxTtlMs: 60_000,
      finalRetentionMs: 60_000,
      idempotencyTtlMs: 60_000,
      nodeTtlMs: 3_000,
      timelineRetentionMs: defaults.timelineRetentionMs,
      streamMaxBytes: defaults.streamMaxBytes,
      webhookTimeoutMs: defaults.webhookTimeoutMs,
      webhookRetryMs: defaults.webhookRetryMs,
    },
  });
  const relay = lib.createRelay(ctx);
  const agent = sink('n1.1', 'agent', 'athena');
  const app = sink('n1.2', 'app', 'portal');
  relay.opened(agent.conn);
  relay.opened(app.conn);
  await new Promise((resolve) => setTimeout(resolve, 50));
  let n = 0;
  /** One event, its FRAMES tokens and its reply; resolves when all are handled. */
  const batch = async () => {
    relay.received(app.conn, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: `portal:${n++}`, payload: {} }));
    const before = agent.event();
    await until(() => agent.event() !== before);
    const eventId = /** @type {string} */ (agent.event());
    const pad = 'x'.repeat(24 - 'nnnnnn.nnn '.length);
    for (let i = 0; i < FRAMES; i++) {
      relay.received(agent.conn, `{"type":"token","event_id":"${eventId}","token":"${(123456.789 + i).toFixed(3)} ${pad}"}`);
    }
    relay.received(agent.conn, JSON.stringify({ type: 'reply', event_id: eventId, content: 'done', finish_reason: 'stop' }));
    await ctx.settled();
  };
  return { batch, bytes: app.bytes, close: async () => (await relay.drain(), await backend.close()) };
}

(async () => {
  const runs = [];
  for (const b of builds) runs.push({ name: b.name, ...(await setUp(b.lib)), us: /** @type {number[]} */ ([]) });
  for (let r = 0; r <= rounds; r++) {
    for (const run of r % 2 ? runs : [...runs].reverse()) {
      const start = process.cpuUsage();
      for (let k = 0; k < BATCHES; k++) await run.batch();
      const used = process.cpuUsage(start);
      if (r > 0) run.us.push((used.user + used.system) / (BATCHES * FRAMES)); // round 0 warms the JIT
    }
  }
  const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  for (const run of runs) {
    if (run.bytes() === 0) throw new Error(`${run.name}: no token reached the app`);
    process.stdout.write(`${median(run.us).toFixed(3)} µs/token  ${run.name}  (rounds: ${run.us.map((u) => u.toFixed(3)).join(', ')})\n`);
    await run.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
