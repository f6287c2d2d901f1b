#!/usr/bin/env node
// @ts-check
// Relay against Socket.IO 4 + @socket.io/redis-adapter doing the same job (socketio-server.js),
// with bench:cluster's load, in alternating rounds on one Redis, in one run; prints both and
// the ratios. See docs/benchmarks.md. Usage: npm run bench:socketio -- --help
const { randomBytes } = require('node:crypto');
const { existsSync, mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { loadShape, runRelay } = require('./load');
const { cpuWindow, runBench, startGateway, startRedis, startSocketIo, stopAll, writeRegistry } = require('./processes');
const { registry } = require('./registry');
const { median } = require('./samples');
const { runSocketIo } = require('./socketio-load');

const HELP = `npm run bench:socketio -- [options]

  --n N             apps on node A and as many agents on node B      (20)
  --tokens T        tokens per event, then one reply                 (50)
  --inflight E      events each app keeps outstanding                (2)
  --token-bytes B   length of each token's text                      (24)
  --warmup S        seconds of load before each measured round       (2)
  --duration S      seconds measured per round                       (6)
  --rounds R        rounds of each, alternated                       (3)
  --redis-server P  redis-server binary                              (redis-server)
  --json            print the figures as one JSON object instead
`;

function options() {
  const { values } = parseArgs({
    options: {
      n: { type: 'string' },
      tokens: { type: 'string' },
      inflight: { type: 'string' },
      'token-bytes': { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      'redis-server': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  /** @param {string | undefined} flag @param {number} fallback @param {string} name */
  const num = (flag, fallback, name) => {
    const value = Number(flag ?? fallback);
    if (!(value > 0)) throw new Error(`${name} must be a positive number`);
    return value;
  };
  return {
    n: Math.floor(num(values.n, 20, '--n')),
    tokens: Math.floor(num(values.tokens, 50, '--tokens')),
    inflight: Math.floor(num(values.inflight, 2, '--inflight')),
    tokenBytes: Math.floor(num(values['token-bytes'], 24, '--token-bytes')),
    warmupMs: num(values.warmup, 2, '--warmup') * 1000,
    durationMs: num(values.duration, 6, '--duration') * 1000,
    rounds: Math.floor(num(values.rounds, 3, '--rounds')),
    redisServer: values['redis-server'] ?? 'redis-server',
    json: values.json ?? false,
  };
}

/** @param {number} x */
const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

async function main() {
  const o = options();
  if (!existsSync(path.resolve(__dirname, '../packages/gateway/dist/main.js'))) throw new Error('packages/gateway/dist is missing: run `npm run build` first');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-bench-sio-'));
  const log = o.json ? () => {} : (/** @type {string} */ line) => process.stderr.write(`${line}\n`);
  const redis = await startRedis({ dir, aof: false, binary: o.redisServer });
  const { pairs, file } = registry(o.n, o.inflight);
  const registryFile = path.join(dir, 'registry.json');
  writeRegistry(registryFile, file);
  const common = { dir, redisUrl: redis.url, registryFile };
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const relayCommon = { ...common, prefix, logLevel: 'info', nodeArgs: [] };
  const [a, b, sa, sb] = await Promise.all([
    startGateway({ ...relayCommon, name: 'node-a' }),
    startGateway({ ...relayCommon, name: 'node-b' }),
    startSocketIo({ ...common, name: 'sio-a' }),
    startSocketIo({ ...common, name: 'sio-b' }),
  ]);
  log(`redis at ${redis.url}; Relay ${a.url} / ${b.url}; Socket.IO ${sa.url} / ${sb.url}; logs in ${dir}`);

  const load = loadShape(o, pairs);
  /** @type {{ system: string, framesPerSec: number, p50: number, p99: number, lost: number, errors: number, unfinished: number, cpuPercent: Record<string, number>, serverUsPerFrame: number }[]} */
  const rounds = [];
  /**
   * @param {string} system @param {{ A: { child: any }, B: { child: any } }} nodes
   * @param {(onWindow: (edge: 'start' | 'end') => void) => Promise<{ frames: number, seconds: number, framesPerSec: number, p50: number, p99: number, lost: number, errors: number, unfinished: number }>} run
   */
  const round = async (system, nodes, run) => {
    const cpu = cpuWindow({ 'node A': nodes.A.child, 'node B': nodes.B.child, redis: redis.child });
    /** @type {Record<string, number>} */
    let cpuPercent = {};
    const f = await run((edge) => (edge === 'start' ? cpu.start() : (cpuPercent = cpu.end())));
    if (f.frames === 0) throw new Error(`${system}: no token frames arrived (logs in ${dir})`);
    const servers = (cpuPercent['node A'] ?? NaN) + (cpuPercent['node B'] ?? NaN) + (cpuPercent.redis ?? NaN);
    const serverUsPerFrame = ((servers / 100) * f.seconds * 1e6) / f.frames;
    rounds.push({ system, framesPerSec: f.framesPerSec, p50: f.p50, p99: f.p99, lost: f.lost, errors: f.errors, unfinished: f.unfinished, cpuPercent, serverUsPerFrame });
    log(`${system.padEnd(10)} ${fmt(f.framesPerSec, 0).padStart(8)} frames/s  p50 ${fmt(f.p50)} p99 ${fmt(f.p99)} ms  servers ${fmt(serverUsPerFrame, 1)} µs/frame  CPU % ${Object.entries(cpuPercent).map(([k, v]) => `${k} ${fmt(v, 0)}`).join(', ')}`);
  };
  const relayRound = () => round('relay', { A: a, B: b }, (onWindow) => runRelay({ ...load, appUrl: a.url, agentUrl: b.url, onWindow }));
  const sioRound = () => round('socket.io', { A: sa, B: sb }, (onWindow) => runSocketIo({ ...load, appUrl: sa.url, agentUrl: sb.url, onWindow }));
  for (let r = 0; r < o.rounds; r++) {
    // Each goes first in every other round, so a drift in the machine's load favours neither.
    if (r % 2 === 0) {
      await relayRound();
      await sioRound();
    } else {
      await sioRound();
      await relayRound();
    }
  }
  await stopAll();
  rmSync(dir, { recursive: true, force: true });

  /** @param {string} system */
  const summary = (system) => {
    const mine = rounds.filter((r) => r.system === system);
    return {
      framesPerSec: median(mine.map((r) => r.framesPerSec)),
      p50: median(mine.map((r) => r.p50)),
      p99: median(mine.map((r) => r.p99)),
      serverUsPerFrame: median(mine.map((r) => r.serverUsPerFrame)),
      nodeBUsPerFrame: median(mine.map((r) => (((r.cpuPercent['node B'] ?? NaN) / 100) * 1e6) / r.framesPerSec)),
      lost: mine.reduce((s, r) => s + r.lost, 0),
      errors: mine.reduce((s, r) => s + r.errors, 0),
    };
  };
  const relay = summary('relay');
  const sio = summary('socket.io');
  const ratio = {
    framesPerSec: relay.framesPerSec / sio.framesPerSec,
    serverUsPerFrame: relay.serverUsPerFrame / sio.serverUsPerFrame,
    p50: relay.p50 / sio.p50,
    p99: relay.p99 / sio.p99,
  };
  const config = { n: o.n, tokens: o.tokens, inflight: o.inflight, tokenBytes: o.tokenBytes, warmupS: o.warmupMs / 1000, durationS: o.durationMs / 1000, rounds: o.rounds };
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), config, rounds, relay, socketio: sio, ratio })}\n`);
    return;
  }
  const row = (/** @type {string} */ name, /** @type {ReturnType<typeof summary>} */ s) =>
    `${name.padEnd(24)}${fmt(s.framesPerSec, 0).padStart(10)}${fmt(s.p50).padStart(9)}${fmt(s.p99).padStart(9)}${fmt(s.serverUsPerFrame, 1).padStart(14)}${fmt(s.nodeBUsPerFrame, 1).padStart(12)}`;
  process.stdout.write(
    [
      '',
      `Relay vs Socket.IO 4 + redis-adapter, ${new Date().toISOString()}; ${os.cpus().length} cores, Node ${process.version}, all on 127.0.0.1`,
      `N=${o.n}, T=${o.tokens}, E=${o.inflight}, token text ${o.tokenBytes} B; ${o.rounds} alternated rounds each of ${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s measured; medians`,
      'server CPU = node A + node B + Redis. The load generator shares the cores: frames/s is a floor, CPU per frame is the figure to compare.',
      '',
      `${''.padEnd(24)}${'frames/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'server µs/fr'.padStart(14)}${'B µs/fr'.padStart(12)}`,
      row('relay', relay),
      row('socket.io', sio),
      `${'ratio relay / socket.io'.padEnd(24)}${fmt(ratio.framesPerSec).padStart(10)}${fmt(ratio.p50).padStart(9)}${fmt(ratio.p99).padStart(9)}${fmt(ratio.serverUsPerFrame).padStart(14)}`,
      `lost tokens: relay ${relay.lost}, socket.io ${sio.lost}; error frames: relay ${relay.errors}, socket.io ${sio.errors}`,
      '',
    ].join('\n'),
  );
}

runBench(main);
