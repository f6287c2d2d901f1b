#!/usr/bin/env node
// @ts-check
// The bus's two framings (backends/redis/bus-lines.ts) through a real Redis: this process
// publishes bench:cluster's app-token messages with the gateway's own bus, a child process
// subscribes with it, and each round the child's liveness key says whether it reads lines (as
// a node of this version writes it) or not (as a node of an earlier version, which is sent
// JSON arrays). Rounds alternate; prints CPU µs per message of the publisher, the subscriber
// and Redis, for each framing and their ratio. See docs/benchmarks.md.
// Usage: npm run build && node bench/bus-framing.js [--rounds R] [--messages M] [--burst B]
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Redis } = require('ioredis');
const { ownFork, startRedis, stopAll, killAllNow } = require('./processes');
const { median } = require('./samples');

const dist = path.resolve(__dirname, '../packages/gateway/dist/backends/redis');
const { createRedisBus } = require(path.join(dist, 'bus.js'));
const { createKeys } = require(path.join(dist, 'keys.js'));
const { LINES_MARK } = require(path.join(dist, 'bus-lines.js'));
const { appTokenFrame, appTokenHead } = require(path.resolve(dist, '../../relay/outbound.js'));

const PREFIX = 'bench-bus';
const SUBSCRIBER = 'node-sub-1a2b3c';
/** Messages the publisher may have ahead of what the subscriber has reported. */
const WINDOW = 8_000;
const REPORT_EVERY = 1_000;

/** One of bench:cluster's app-token messages (a 24-byte token, in the frame outbound.ts makes). */
function tokenMessage(/** @type {number} */ i) {
  const eventId = `evt_01J9ZQ3K8M${i % 40}`;
  const text = appTokenFrame(appTokenHead({ id: eventId, agentId: 'agent-07' }), 'lorem ipsum dolor sit am', i, 1);
  return { kind: 'app-token', connId: `${SUBSCRIBER}.${i % 20}`, eventId, text, attempt: 1, seq: i };
}

if (process.env.BENCH_BUS_ROLE === 'subscriber') subscriber();
else main().catch(async (err) => {
  console.error(err);
  killAllNow();
  process.exit(1);
});

/** The child: subscribes as SUBSCRIBER, counts what it hears, reports its CPU when it has it all. */
function subscriber() {
  const url = /** @type {string} */ (process.env.BENCH_BUS_REDIS);
  const keys = createKeys(PREFIX);
  const bus = createRedisBus(new Redis(url), () => new Redis(url), keys, (/** @type {unknown} */ err) => console.error(err));
  /** @type {{ expected: number, heard: number, bytes: number, cpu: NodeJS.CpuUsage } | undefined} */
  let round;
  bus
    .subscribe(SUBSCRIBER, (/** @type {any} */ message) => {
      if (!round || message.kind !== 'app-token') return;
      round.heard += 1;
      round.bytes += message.text.length;
      if (round.heard % REPORT_EVERY === 0) process.send?.({ heard: round.heard });
      if (round.heard === round.expected) {
        const cpu = process.cpuUsage(round.cpu);
        process.send?.({ done: true, cpuUs: cpu.user + cpu.system, bytes: round.bytes });
        round = undefined;
      }
    })
    .then(() => process.send?.({ ready: true }));
  process.on('message', (/** @type {any} */ m) => {
    if (m.start) round = { expected: m.start, heard: 0, bytes: 0, cpu: process.cpuUsage() };
    if (m.quit) process.exit(0);
  });
}

async function main() {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, messages: { type: 'string' }, burst: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 5);
  const messages = Number(values.messages ?? 200_000);
  const burst = Number(values.burst ?? 40);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-bench-bus-'));
  const redis = await startRedis({ dir, aof: false, binary: 'redis-server' });
  const admin = new Redis(redis.url);
  const keys = createKeys(PREFIX);
  const child = ownFork('subscriber', __filename, dir, { ...process.env, BENCH_BUS_ROLE: 'subscriber', BENCH_BUS_REDIS: redis.url });
  /** @type {(m: any) => void} */
  let onMessage = () => {};
  child.proc.on('message', (m) => onMessage(m));
  await new Promise((resolve) => (onMessage = (m) => m.ready && resolve(undefined)));

  /** @type {{ [framing in 'json' | 'lines']: Array<{ pub: number, sub: number, redis: number }> }} */
  const results = { json: [], lines: [] };
  for (let r = 0; r < rounds; r++) {
    for (const framing of /** @type {const} */ (['json', 'lines'])) {
      // An earlier version's liveness value carries no mark, so the bus sends it JSON arrays.
      await admin.set(keys.nodeAlive(SUBSCRIBER), framing === 'lines' ? `${Date.now()} ${LINES_MARK}` : String(Date.now()));
      // A fresh publisher's bus, so it reads the framing anew (it keeps what it learns).
      const publisher = new Redis(redis.url);
      const bus = createRedisBus(publisher, () => new Redis(redis.url), keys, (/** @type {unknown} */ err) => console.error(err));
      // Learning the framing takes one round trip: warm up with a few bursts first.
      for (let i = 0; i < 20; i++) {
        bus.publish(SUBSCRIBER, { kind: 'probe', sentAt: 0 });
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      let heard = 0;
      /** @type {(v: { cpuUs: number }) => void} */
      let finished = () => {};
      const done = new Promise((resolve) => (finished = resolve));
      onMessage = (m) => {
        if (m.heard) heard = m.heard;
        if (m.done) finished(m);
      };
      child.proc.send({ start: messages });
      const redisBefore = await redisCpuUs(admin);
      const cpu = process.cpuUsage();
      let sent = 0;
      while (sent < messages) {
        for (let i = 0; i < burst && sent < messages; i++) bus.publish(SUBSCRIBER, tokenMessage(sent++));
        while (sent - heard > WINDOW) await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
      }
      const sub = /** @type {{ cpuUs: number }} */ (await done);
      const used = process.cpuUsage(cpu);
      const redisUs = (await redisCpuUs(admin)) - redisBefore;
      await bus.close();
      publisher.disconnect();
      const row = { pub: (used.user + used.system) / messages, sub: sub.cpuUs / messages, redis: redisUs / messages };
      results[framing].push(row);
      console.log(`${framing.padEnd(6)} publisher ${row.pub.toFixed(2)}  subscriber ${row.sub.toFixed(2)}  redis ${row.redis.toFixed(2)} µs/message`);
    }
  }
  child.proc.send({ quit: true });
  admin.disconnect();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });

  const med = (/** @type {'json' | 'lines'} */ f, /** @type {'pub' | 'sub' | 'redis'} */ k) => median(results[f].map((row) => row[k]));
  console.log(`\nBus framings, ${new Date().toISOString()}; ${os.cpus().length} cores, Node ${process.version}; ${messages} app-token messages a round, ${burst} a turn; medians of ${rounds} rounds, CPU µs per message`);
  console.log('               publisher  subscriber   redis    all');
  for (const f of /** @type {const} */ (['json', 'lines'])) {
    const all = med(f, 'pub') + med(f, 'sub') + med(f, 'redis');
    console.log(`${f.padEnd(12)} ${med(f, 'pub').toFixed(2).padStart(10)} ${med(f, 'sub').toFixed(2).padStart(11)} ${med(f, 'redis').toFixed(2).padStart(7)} ${all.toFixed(2).padStart(6)}`);
  }
  const ratio = (/** @type {'pub' | 'sub' | 'redis'} */ k) => (med('lines', k) / med('json', k)).toFixed(2);
  console.log(`lines / json ${ratio('pub').padStart(10)} ${ratio('sub').padStart(11)} ${ratio('redis').padStart(7)}`);
}

/** Redis's CPU so far (user + system), in µs, from INFO cpu. */
async function redisCpuUs(/** @type {Redis} */ client) {
  const info = await client.info('cpu');
  const field = (/** @type {string} */ name) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1]);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}
