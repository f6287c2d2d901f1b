#!/usr/bin/env node
// @ts-check
// Idle connections: one gateway node (memory backend, then Redis) and a separate client process
// that opens idle app sockets to one app in steps. Per step: setup rate, the node's (and Redis's)
// CPU per connection, and the node's RSS and heap per socket after a settle and after a forced
// GC. See docs/benchmarks.md. Usage: npm run bench:connections -- --help
const { randomBytes } = require('node:crypto');
const { existsSync, mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { attach } = require('./inspector');
const { cpuSeconds, freePort, ownFork, runBench, sleep, startGateway, startRedis, stopAll, writeRegistry } = require('./processes');

const HELP = `npm run bench:connections -- [options]

  --steps LIST      socket counts to reach, comma-separated           (1000,2500,5000,10000)
  --backends LIST   memory, redis or both                             (memory,redis)
  --settle S        seconds idle after each step before memory is read (3)
  --sources K       client source addresses 127.0.0.1..127.0.0.K      (8)
  --allocations K   profile what the node allocates during the first step (garbage
                    included) and print the K functions that allocate most, per socket
  --redis-server P  redis-server binary                               (redis-server)
  --node-args=A     extra flags for the node, space-separated, e.g.
                    --node-args=--max-semi-space-size=1
  --json            print the figures as one JSON object instead

Each socket is a file descriptor in the node and in the client: keep the last step under the
open-files limit (ulimit -n) of both.
`;

function options() {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string' },
      backends: { type: 'string' },
      settle: { type: 'string' },
      sources: { type: 'string' },
      allocations: { type: 'string' },
      'redis-server': { type: 'string' },
      'node-args': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const steps = (values.steps ?? '1000,2500,5000,10000').split(',').map(Number);
  if (steps.some((s, i) => !(s > 0) || (i > 0 && s <= /** @type {number} */ (steps[i - 1])))) throw new Error('--steps must be rising positive counts');
  const backends = (values.backends ?? 'memory,redis').split(',');
  if (backends.some((b) => b !== 'memory' && b !== 'redis')) throw new Error('--backends takes memory and/or redis');
  const settle = Number(values.settle ?? 3);
  const sources = Number(values.sources ?? 8);
  if (!(settle >= 0) || !(sources >= 1 && sources <= 254)) throw new Error('--settle must be ≥ 0 and --sources 1..254');
  const allocations = Number(values.allocations ?? 0);
  const nodeArgs = (values['node-args'] ?? '').split(' ').filter(Boolean);
  return { steps, backends, settleMs: settle * 1000, sources, allocations, nodeArgs, redisServer: values['redis-server'] ?? 'redis-server', json: values.json ?? false };
}

/** @param {number} x */
const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const KB = 1024;

/**
 * One backend: a fresh node (and Redis), the steps, then everything stopped.
 * @param {'memory' | 'redis'} backend @param {ReturnType<typeof options>} o @param {(line: string) => void} log
 */
async function runBackend(backend, o, log) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `relay-bench-conn-${backend}-`));
  const redis = backend === 'redis' ? await startRedis({ dir, aof: false, binary: o.redisServer }) : undefined;
  const token = `rlk_app0_${randomBytes(18).toString('hex')}`;
  const registryFile = path.join(dir, 'registry.json');
  const last = /** @type {number} */ (o.steps[o.steps.length - 1]);
  writeRegistry(registryFile, { apps: [{ id: 'app0', tokens: [token], max_connections: last * 2 }], agents: [] });
  const inspectPort = await freePort();
  const node = await startGateway({
    name: `node-${backend}`,
    dir,
    redisUrl: redis?.url ?? '',
    prefix: `bench-${randomBytes(3).toString('hex')}`,
    registryFile,
    logLevel: 'warn',
    nodeArgs: ['--expose-gc', `--inspect=127.0.0.1:${inspectPort}`, ...o.nodeArgs],
  });
  const inspector = await attach(inspectPort);
  const client = ownFork('client', path.resolve(__dirname, 'connections-client.js'), dir, { PATH: process.env.PATH ?? '', BENCH_SOURCES: String(o.sources) });
  /** @param {number} count @returns {Promise<{ opened: number, failed: number, ms: number, open: number, firstError?: string }>} */
  const open = (count) =>
    new Promise((resolve) => {
      client.proc.once('message', (msg) => resolve(/** @type {any} */ (msg)));
      client.proc.send({ open: count, url: node.url, token });
    });

  await sleep(1000);
  const base = await inspector.memory({ gc: true });
  log(`${backend}: node at ${node.url}, ${fmt(base.rss / KB / KB, 1)} MB RSS, ${fmt(base.heapUsed / KB / KB, 1)} MB heap with no socket (after GC); logs in ${dir}`);
  const rows = [];
  let have = 0;
  for (const target of o.steps) {
    const nodeCpu = cpuSeconds(node.child) ?? NaN;
    const redisCpu = redis ? cpuSeconds(redis.child) ?? NaN : 0;
    const profiling = o.allocations > 0 && have === 0;
    if (profiling) await inspector.startAllocations();
    const step = await open(target - have);
    if (profiling) {
      const top = (await inspector.stopAllocations()).slice(0, o.allocations);
      log(`  allocated during the first ${step.opened} upgrades, per socket (sampled, garbage included):`);
      for (const { name, bytes } of top) log(`    ${fmt(bytes / step.opened / KB, 2).padStart(8)} KB  ${name}`);
    }
    const nodeMs = ((cpuSeconds(node.child) ?? NaN) - nodeCpu) * 1000;
    const redisMs = redis ? ((cpuSeconds(redis.child) ?? NaN) - redisCpu) * 1000 : 0;
    have = step.open;
    if (step.failed) log(`  ${step.failed} of ${target - (have - step.opened)} failed, first: ${step.firstError}`);
    await sleep(o.settleMs);
    const settled = await inspector.memory({ gc: false });
    const collected = await inspector.memory({ gc: true });
    const row = {
      sockets: have,
      opened: step.opened,
      failed: step.failed,
      perSecond: (step.opened / step.ms) * 1000,
      nodeCpuMsPerConn: nodeMs / step.opened,
      redisCpuMsPerConn: redisMs / step.opened,
      settled: { rssPerSocket: (settled.rss - base.rss) / have, heapPerSocket: (settled.heapUsed - base.heapUsed) / have },
      afterGc: {
        rssPerSocket: (collected.rss - base.rss) / have,
        // The young generation's pages that the burst's garbage touched stay resident, up to
        // twice --max-semi-space-size (32 MB by default) however many sockets are open: set apart
        rssOutsideYoungPerSocket: (collected.rss - collected.young - (base.rss - base.young)) / have,
        heapPerSocket: (collected.heapUsed - base.heapUsed) / have,
        externalPerSocket: (collected.external - base.external) / have,
      },
      youngMb: collected.young / KB / KB,
      rssMb: collected.rss / KB / KB,
    };
    rows.push(row);
    log(`  ${String(have).padStart(6)} sockets: ${fmt(row.perSecond)}/s, node ${fmt(row.nodeCpuMsPerConn, 2)} ms CPU/conn${redis ? `, Redis ${fmt(row.redisCpuMsPerConn, 2)}` : ''}; per socket settled ${fmt(row.settled.rssPerSocket / KB, 2)} KB RSS, ${fmt(row.settled.heapPerSocket / KB, 2)} KB heap; after GC ${fmt(row.afterGc.rssPerSocket / KB, 2)} KB RSS (${fmt(row.afterGc.rssOutsideYoungPerSocket / KB, 2)} KB outside the young generation, then ${fmt(row.youngMb, 1)} MB), ${fmt(row.afterGc.heapPerSocket / KB, 2)} KB heap`);
  }
  inspector.close();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
  return { backend, base, rows };
}

async function main() {
  const o = options();
  if (!existsSync(path.resolve(__dirname, '../packages/gateway/dist/main.js'))) throw new Error('packages/gateway/dist is missing: run `npm run build` first');
  const log = o.json ? () => {} : (/** @type {string} */ line) => process.stderr.write(`${line}\n`);
  const results = [];
  for (const backend of o.backends) results.push(await runBackend(/** @type {'memory' | 'redis'} */ (backend), o, log));
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), config: { steps: o.steps, settleS: o.settleMs / 1000, sources: o.sources }, results })}\n`);
    return;
  }
  const lines = [
    '',
    `Idle connections to one app, ${new Date().toISOString()}; ${os.cpus().length} cores, Node ${process.version}, all on 127.0.0.1`,
    `client in its own process from ${o.sources} source addresses; memory read ${o.settleMs / 1000} s after each step, then after gc(); per socket = growth over the node with none ÷ sockets${o.nodeArgs.length ? `; node ${o.nodeArgs.join(' ')}` : ''}`,
    'RSS w/o young: after GC, leaving out the young generation (its resident pages grow with a burst of garbage, up to a bound, not with sockets)',
    '',
    `${'backend'.padEnd(8)}${'sockets'.padStart(8)}${'conn/s'.padStart(8)}${'node ms/conn'.padStart(14)}${'Redis ms/conn'.padStart(15)}${'RSS KB/sock'.padStart(13)}${'heap KB'.padStart(9)}${'RSS after GC'.padStart(14)}${'heap after GC'.padStart(15)}${'RSS w/o young'.padStart(15)}${'RSS MB'.padStart(8)}`,
  ];
  for (const r of results) {
    for (const row of r.rows) {
      lines.push(
        `${r.backend.padEnd(8)}${String(row.sockets).padStart(8)}${fmt(row.perSecond).padStart(8)}${fmt(row.nodeCpuMsPerConn, 2).padStart(14)}${(r.backend === 'redis' ? fmt(row.redisCpuMsPerConn, 2) : '').padStart(15)}${fmt(row.settled.rssPerSocket / KB, 2).padStart(13)}${fmt(row.settled.heapPerSocket / KB, 2).padStart(9)}${fmt(row.afterGc.rssPerSocket / KB, 2).padStart(14)}${fmt(row.afterGc.heapPerSocket / KB, 2).padStart(15)}${fmt(row.afterGc.rssOutsideYoungPerSocket / KB, 2).padStart(15)}${fmt(row.rssMb, 1).padStart(8)}`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

runBench(main);
