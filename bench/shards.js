// @ts-check
// `bench:cluster -- --shards N`: the cluster benchmark's load (N apps on node A, N agents on node
// B) run twice, on one redis-server and on a local Redis Cluster of N primaries, printing the
// Redis CPU each store (each shard) spent per relayed token frame and per event, and each
// shard's share, so an uneven key layout shows. CPU comes from each server's own `INFO cpu`
// (used_cpu_user + used_cpu_sys), the busiest commands from `INFO commandstats`.
const { execFile } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { randomBytes } = require('node:crypto');
const path = require('node:path');
const { promisify } = require('node:util');
const { Redis } = require('ioredis');
const { loadShape, runRelay } = require('./load');
const { freePort, own, startGateway, startRedis, stopAll, waitFor, writeRegistry } = require('./processes');
const { registry } = require('./registry');

const run = promisify(execFile);

/** A server's CPU seconds so far and its commands' total µs, by command. */
async function sample(/** @type {Redis} */ client) {
  const cpu = await client.info('cpu');
  const field = (/** @type {string} */ name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? NaN);
  const stats = await client.info('commandstats');
  /** @type {Record<string, number>} */
  const usec = {};
  for (const m of stats.matchAll(/cmdstat_([^:]+):calls=\d+,usec=(\d+)/g)) usec[m[1] ?? ''] = Number(m[2]);
  return { cpuSeconds: field('used_cpu_user') + field('used_cpu_sys'), usec };
}

/**
 * N redis-server processes with cluster mode on (primaries only: replicas would only add the
 * cost of copying), joined by `redis-cli --cluster create`, the slots split evenly.
 * @param {{ dir: string, shards: number, binary: string }} o
 */
async function startShards({ dir, shards, binary }) {
  const ports = [];
  for (let i = 0; i < shards; i++) {
    const port = await freePort();
    const args = ['--port', String(port), '--cluster-port', String(await freePort()), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', 'no', '--protected-mode', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`];
    const child = own(`redis-shard-${i + 1}`, binary, args, dir);
    await waitFor(child, async () => /Ready to accept connections/.test(readFileSync(child.log, 'utf8')), 10_000);
    ports.push(port);
  }
  await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
  const clients = ports.map((port) => new Redis(port, '127.0.0.1'));
  const deadline = Date.now() + 20_000;
  while (!(await Promise.all(clients.map((c) => c.cluster('INFO')))).every((info) => /cluster_state:ok/.test(String(info)))) {
    if (Date.now() > deadline) throw new Error('the cluster did not reach cluster_state:ok');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // each shard's slot ranges, from its line in CLUSTER NODES
  const nodes = String(await clients[0]?.cluster('NODES'));
  const slots = ports.map((port) => nodes.split('\n').find((l) => l.includes(`:${port}@`))?.split(' ').slice(8).join(' ') ?? '?');
  return { ports, clients, slots, seeds: ports.map((p) => `redis://127.0.0.1:${p}`).join(',') };
}

/**
 * One run of the load on a store; resolves with the relay's figures and each server's CPU and
 * command µs in the measured window.
 * @param {any} o the benchmark's options
 * @param {string} dir
 * @param {{ env: Record<string, string>, redisUrl: string, servers: Redis[] }} store
 */
async function measure(o, dir, store) {
  const { pairs, file } = registry(o.n, o.inflight);
  const registryFile = path.join(dir, `registry-${randomBytes(3).toString('hex')}.json`);
  writeRegistry(registryFile, file);
  const common = { dir, redisUrl: store.redisUrl, prefix: `bench-${randomBytes(3).toString('hex')}`, registryFile, logLevel: o.logLevel, nodeArgs: [], env: store.env };
  const [a, b] = await Promise.all([startGateway({ ...common, name: 'node-a' }), startGateway({ ...common, name: 'node-b' })]);
  /** @type {Promise<Awaited<ReturnType<typeof sample>>[]>[]} */
  const edges = [];
  const relay = await runRelay({
    ...loadShape(o, pairs),
    appUrl: a.url,
    agentUrl: b.url,
    onWindow: () => void edges.push(Promise.all(store.servers.map(sample))),
  });
  await stopAll(5_000, ['node-a', 'node-b']);
  const [before, after] = await Promise.all(edges);
  if (!before || !after) throw new Error('the measured window was never opened and closed');
  if (relay.frames === 0) throw new Error(`no token frames arrived: ${relay.errorTexts.join(' | ') || 'see logs in ' + dir}`);
  const servers = after.map((end, i) => {
    const start = /** @type {Awaited<ReturnType<typeof sample>>} */ (before[i]);
    const usec = Object.entries(end.usec).map(([cmd, us]) => /** @type {[string, number]} */ ([cmd, us - (start.usec[cmd] ?? 0)]));
    return { cpuSeconds: end.cpuSeconds - start.cpuSeconds, top: usec.sort((x, y) => y[1] - x[1]).slice(0, 4) };
  });
  return { relay, servers };
}

/**
 * Runs the comparison and prints it (or, with --json, one JSON object).
 * @param {any} o the benchmark's options, with `shards`
 * @param {string} dir
 * @param {(line: string) => void} log
 */
async function compareShards(o, dir, log) {
  if (o.shards < 3) throw new Error('--shards must be 3 or more: a Redis Cluster needs three primaries');
  const single = await startRedis({ dir, aof: false, binary: o.redisServer });
  const singleClient = new Redis(single.url);
  log(`single Redis at ${single.url}: ${o.warmupMs / 1000} s warm-up, ${o.durationMs / 1000} s measured ...`);
  const one = await measure(o, dir, { env: {}, redisUrl: single.url, servers: [singleClient] });
  singleClient.disconnect();
  await stopAll(5_000, ['redis']);

  const cluster = await startShards({ dir, shards: o.shards, binary: o.redisServer });
  log(`Redis Cluster of ${o.shards} primaries (${cluster.seeds}): the same load ...`);
  const sharded = await measure(o, dir, { env: { REDIS_URL: '', REDIS_CLUSTER_URLS: cluster.seeds }, redisUrl: '', servers: cluster.clients });
  for (const c of cluster.clients) c.disconnect();
  await stopAll(5_000);

  /** @param {number} cpuSeconds @param {any} relay */
  const per = (cpuSeconds, relay) => ({ usPerFrame: (cpuSeconds * 1e6) / relay.frames, usPerEvent: (cpuSeconds * 1e6 * o.tokens) / relay.frames });
  const clusterCpu = sharded.servers.reduce((s, x) => s + x.cpuSeconds, 0);
  const shards = sharded.servers.map((s, i) => ({
    port: cluster.ports[i],
    slots: cluster.slots[i],
    cpuPercent: (100 * s.cpuSeconds) / sharded.relay.seconds,
    share: s.cpuSeconds / clusterCpu,
    ...per(s.cpuSeconds, sharded.relay),
    top: s.top,
  }));
  const result = {
    date: new Date().toISOString(),
    config: { n: o.n, tokens: o.tokens, inflight: o.inflight, tokenBytes: o.tokenBytes, shards: o.shards, durationS: o.durationMs / 1000 },
    single: { framesPerSec: one.relay.framesPerSec, cpuPercent: (100 * (one.servers[0]?.cpuSeconds ?? NaN)) / one.relay.seconds, ...per(one.servers[0]?.cpuSeconds ?? NaN, one.relay), top: one.servers[0]?.top },
    cluster: { framesPerSec: sharded.relay.framesPerSec, cpuPercent: (100 * clusterCpu) / sharded.relay.seconds, ...per(clusterCpu, sharded.relay), shards },
    busiestShare: Math.max(...shards.map((s) => s.share)),
  };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const f = (/** @type {number} */ x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
  const row = (/** @type {string} */ name, /** @type {any} */ r, /** @type {string} */ share) =>
    `${name.padEnd(34)}${f(r.cpuPercent, 0).padStart(8)}${f(r.usPerFrame).padStart(12)}${f(r.usPerEvent, 0).padStart(12)}${share.padStart(8)}`;
  const top = (/** @type {[string, number][] | undefined} */ t) => (t ?? []).map(([cmd, us]) => `${cmd} ${f(us / 1e6, 2)} s`).join(', ');
  process.stdout.write(
    [
      '',
      `Redis CPU per relayed frame and per event, single Redis vs a ${o.shards}-primary Redis Cluster, ${result.date}`,
      `N=${o.n} apps on node A, ${o.n} agents on node B; T=${o.tokens} tokens/event + reply; ${o.inflight} events in flight per app; no persistence; all on 127.0.0.1`,
      `relay frames/s: single ${f(one.relay.framesPerSec, 0)}, cluster ${f(sharded.relay.framesPerSec, 0)} (a floor: the load generator shares the cores)`,
      '',
      `${''.padEnd(34)}${'CPU %'.padStart(8)}${'µs/frame'.padStart(12)}${'µs/event'.padStart(12)}${'share'.padStart(8)}`,
      row('single Redis', result.single, ''),
      row(`cluster, all ${o.shards} shards`, result.cluster, '100%'),
      ...shards.map((s, i) => row(`  shard ${i + 1} (slots ${s.slots})`, s, `${f(100 * s.share, 0)}%`)),
      '',
      `busiest commands in the window: single Redis: ${top(result.single.top)}`,
      ...shards.map((s, i) => `  shard ${i + 1}: ${top(s.top)}`),
      `busiest shard: ${f(100 * result.busiestShare, 0)}% of the cluster's Redis CPU (the keys spread if no shard carries over 50%)`,
      '',
    ].join('\n'),
  );
}

module.exports = { compareShards };
