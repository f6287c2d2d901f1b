// @ts-check
// Issue 11.1's measurement: Redis time per accepted event while one session's events wait
// behind its full holder. One app sends N events on one thread (one session) to an agent whose
// connections never answer: with one connection, everything waits with no free slot anywhere;
// with two, the second connection has room the whole time, so every accept dispatches with
// events blocked. Prints, for N = 3,000 and 30,000 (or --sizes), Redis script time (EVALSHA
// usec from INFO commandstats) and Redis CPU per accepted event, and the slowest script call.
// Not part of npm test: `npm run build && node bench/dispatch-cost.js [--sizes 3000,30000]`.
const { randomBytes } = require('node:crypto');
const { mkdtempSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Redis } = require('ioredis');
const WebSocket = require('ws');
const { killAllNow, startGateway, startRedis, stopAll, writeRegistry } = require('./processes');
const { scriptNamesByFirstArg } = require('../packages/gateway/dist/backends/redis/scripts');

const BATCH = 500;

/** @param {string} url @param {'app' | 'agent'} role @param {string} token @returns {Promise<WebSocket>} */
function connect(url, role, token) {
  const ws = new WebSocket(`${url}/v1/ws/${role}`, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** @param {Redis} redis */
async function scriptStats(redis) {
  const stats = await redis.info('all');
  const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
  const cpu = Number(/used_cpu_user:([\d.]+)/.exec(stats)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(stats)?.[1]);
  return { scriptUsec: Number(evalsha?.[2] ?? 0), scriptCalls: Number(evalsha?.[1] ?? 0), cpuUsec: cpu * 1e6 };
}

/**
 * One run: a fresh Redis and node, `connections` agent sockets that never answer, `n` events.
 * @param {number} n @param {number} connections @param {string} dir
 */
async function run(n, connections, dir) {
  const secret = () => randomBytes(18).toString('hex');
  const appToken = `rlk_app_${secret()}`;
  const agentToken = `rla_agent_${secret()}`;
  const registryFile = path.join(dir, `registry-${n}-${connections}.json`);
  writeRegistry(registryFile, {
    apps: [{ id: 'app', tokens: [appToken], rate_limit_per_min: 10_000_000 }],
    agents: [{ id: 'agent', tokens: [agentToken], allow_apps: ['app'], max_in_flight: 64, max_queue: n + 1_000 }],
  });
  const redis = await startRedis({ dir, aof: false, binary: process.env.REDIS_SERVER ?? 'redis-server' });
  const node = await startGateway({ name: `node-${n}-${connections}`, dir, redisUrl: redis.url, prefix: 'bench', registryFile, logLevel: 'warn', nodeArgs: [] });
  const stats = new Redis(redis.url);
  const agents = [];
  for (let i = 0; i < connections; i += 1) agents.push(await connect(node.url, 'agent', agentToken));
  const app = await connect(node.url, 'app', appToken);
  let accepted = 0;
  let errors = 0;
  app.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('{"type":"accepted"')) accepted += 1;
    else if (text.startsWith('{"type":"error"')) errors += 1;
  });
  await new Promise((resolve) => setTimeout(resolve, 500)); // attached and present
  await stats.config('RESETSTAT');
  await stats.config('SET', 'slowlog-log-slower-than', '1000');
  await stats.slowlog('RESET');
  await stats.config('SET', 'slowlog-max-len', '1000');
  const before = await scriptStats(stats);
  const started = Date.now();
  for (let sent = 0; sent < n; ) {
    const batch = Math.min(BATCH, n - sent);
    for (let i = 0; i < batch; i += 1) {
      app.send(JSON.stringify({ type: 'event', agent_id: 'agent', thread_id: 'one-thread', payload: { n: sent + i } }));
    }
    sent += batch;
    while (accepted + errors < sent) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const seconds = (Date.now() - started) / 1000;
  const after = await scriptStats(stats);
  /** @type {unknown[][]} */
  const slow = /** @type {unknown[][]} */ (await stats.slowlog('GET', 1000));
  // the relay's own scripts only (BullMQ's are EVALSHA too), by name
  const names = scriptNamesByFirstArg();
  let slowest = 0;
  let slowestName = '';
  for (const entry of slow) {
    const [command, sha] = /** @type {string[]} */ (entry[3]);
    const name = String(command).toLowerCase() === 'evalsha' ? names.get(String(sha)) : undefined;
    if (name && Number(entry[2]) > slowest) [slowest, slowestName] = [Number(entry[2]), name];
  }
  for (const ws of [app, ...agents]) ws.close();
  stats.disconnect();
  await stopAll(3_000);
  if (errors > 0) throw new Error(`${errors} events refused; see logs in ${dir}`);
  return {
    n,
    connections,
    scriptUsPerEvent: (after.scriptUsec - before.scriptUsec) / n,
    scriptCallsPerEvent: (after.scriptCalls - before.scriptCalls) / n,
    redisCpuUsPerEvent: (after.cpuUsec - before.cpuUsec) / n,
    slowestScriptMs: slowest / 1000,
    slowestScript: slowestName,
    seconds,
  };
}

async function main() {
  const { values } = parseArgs({ options: { sizes: { type: 'string' } } });
  const sizes = (values.sizes ?? '3000,30000').split(',').map(Number);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-dispatch-cost-'));
  process.stderr.write(`logs in ${dir}\n`);
  const fmt = (/** @type {number} */ x) => x.toFixed(1);
  for (const n of sizes) {
    const one = await run(n, 1, dir);
    const two = await run(n, 2, dir);
    for (const r of [one, two]) {
      console.log(
        `N=${r.n} connections=${r.connections}: script ${fmt(r.scriptUsPerEvent)} µs/event (${r.scriptCallsPerEvent.toFixed(1)} calls), ` +
          `Redis CPU ${fmt(r.redisCpuUsPerEvent)} µs/event, slowest relay script ${r.slowestScriptMs > 0 ? `${r.slowestScriptMs.toFixed(1)} ms (${r.slowestScript})` : 'under 1 ms'}, ${r.seconds.toFixed(1)} s`,
      );
    }
    console.log(`N=${n}: two connections / one = ${(two.scriptUsPerEvent / one.scriptUsPerEvent).toFixed(2)}x script time per event`);
  }
}

process.on('SIGINT', () => {
  killAllNow();
  process.exit(130);
});
main().catch(async (err) => {
  console.error(err);
  killAllNow();
  process.exit(1);
});
