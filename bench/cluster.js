#!/usr/bin/env node
// @ts-check
// Cluster benchmark: a private redis-server, gateway node A (apps) and node B (agents), and this
// process as the load generator. Prints token frames/s end to end and p50/p99/p99.9 agent-send →
// app-receive latency, beside a bare ioredis publish → subscribe baseline measured in the same
// run, and the ratios; a closed loop, or with --rate an open one. See docs/benchmarks.md.
// Usage: npm run bench:cluster -- --help
const { randomBytes } = require('node:crypto');
const { existsSync, mkdirSync, mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Redis } = require('ioredis');
const { loadShape, runBaseline, runBaselineOpenLoop, runRelay } = require('./load');
const { cpuWindow, runBench, startGateway, startRedis, stopAll, writeRegistry } = require('./processes');
const { registry } = require('./registry');
const { compareShards } = require('./shards');
const { alternateRecording } = require('./recording-cost');

const HELP = `npm run bench:cluster -- [options]      (every option also reads the env var shown)

  --n N             apps on node A and as many agents on node B      BENCH_N          (20)
  --tokens T        tokens per event, then one reply                 BENCH_TOKENS     (50)
  --inflight E      events each app keeps outstanding                BENCH_INFLIGHT   (2)
  --token-bytes B   length of each token's text                      BENCH_TOKEN_BYTES (24)
  --warmup S        seconds of load before measuring                 BENCH_WARMUP     (3)
  --duration S      seconds measured                                 BENCH_DURATION   (15)
  --rate R          open loop: R tokens/s in all, whatever the relay  BENCH_RATE       (closed loop)
                    does, with p99.9; baseline at the same rate
  --aof             Redis with AOF and appendfsync always            BENCH_AOF=1
  --no-recording    nodes record no tokens for resume (the cost's     BENCH_NO_RECORDING=1
                    baseline: RELAY_STREAM_MAX_BYTES=0)
  --recording both  rounds with recording on and off in turn, each a  BENCH_RECORDING=both
                    whole run of this script with the other options;
                    prints each mode's medians and what recording costs
  --rounds K        rounds of --recording both                       BENCH_ROUNDS     (6)
  --log-level L     the nodes' LOG_LEVEL                             BENCH_LOG_LEVEL  (info)
  --cpu-prof DIR    run both nodes with node --cpu-prof into DIR     BENCH_CPU_PROF
  --node-args=A     extra flags for both nodes, space-separated, e.g.  BENCH_NODE_ARGS
                    --node-args=--trace-gc (their output: --keep's logs)
  --redis-server P  redis-server binary                              BENCH_REDIS_SERVER (redis-server)
  --shards S        instead: the same load on one Redis, then on a     BENCH_SHARDS
                    local Redis Cluster of S primaries; prints Redis CPU
                    per frame and per event for each shard beside it
  --json            print the figures as one JSON object instead
  --keep            keep the temp dir (node and Redis logs) after a successful run
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
      rate: { type: 'string' },
      aof: { type: 'boolean' },
      'no-recording': { type: 'boolean' },
      recording: { type: 'string' },
      rounds: { type: 'string' },
      'log-level': { type: 'string' },
      'cpu-prof': { type: 'string' },
      'node-args': { type: 'string' },
      'redis-server': { type: 'string' },
      shards: { type: 'string' },
      json: { type: 'boolean' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const env = process.env;
  const recording = values.recording ?? env.BENCH_RECORDING;
  if (recording !== undefined && recording !== 'both') throw new Error('--recording takes only "both" (--no-recording is off)');
  /** @param {string | undefined} flag @param {string | undefined} fromEnv @param {number} fallback @param {string} name */
  const num = (flag, fromEnv, fallback, name) => {
    const value = Number(flag ?? fromEnv ?? fallback);
    if (!(value > 0)) throw new Error(`${name} must be a positive number`);
    return value;
  };
  return {
    n: Math.floor(num(values.n, env.BENCH_N, 20, '--n')),
    tokens: Math.floor(num(values.tokens, env.BENCH_TOKENS, 50, '--tokens')),
    inflight: Math.floor(num(values.inflight, env.BENCH_INFLIGHT, 2, '--inflight')),
    tokenBytes: Math.floor(num(values['token-bytes'], env.BENCH_TOKEN_BYTES, 24, '--token-bytes')),
    warmupMs: num(values.warmup, env.BENCH_WARMUP, 3, '--warmup') * 1000,
    durationMs: num(values.duration, env.BENCH_DURATION, 15, '--duration') * 1000,
    rate: values.rate ?? env.BENCH_RATE ? num(values.rate, env.BENCH_RATE, 0, '--rate') : undefined,
    aof: values.aof ?? env.BENCH_AOF === '1',
    noRecording: values['no-recording'] ?? env.BENCH_NO_RECORDING === '1',
    recordingBoth: recording === 'both',
    rounds: Math.floor(num(values.rounds, env.BENCH_ROUNDS, 6, '--rounds')),
    logLevel: values['log-level'] ?? env.BENCH_LOG_LEVEL ?? 'info',
    cpuProf: values['cpu-prof'] ?? env.BENCH_CPU_PROF,
    nodeArgs: (values['node-args'] ?? env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    redisServer: values['redis-server'] ?? env.BENCH_REDIS_SERVER ?? 'redis-server',
    shards: values.shards ?? env.BENCH_SHARDS ? Math.floor(num(values.shards, env.BENCH_SHARDS, 0, '--shards')) : undefined,
    json: values.json ?? false,
    keep: values.keep ?? false,
  };
}

/** @param {number} x */
const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

async function main() {
  const o = options();
  if (o.recordingBoth) return alternateRecording(__filename, process.argv.slice(2), o);
  const gatewayMain = path.resolve(__dirname, '../packages/gateway/dist/main.js');
  if (!existsSync(gatewayMain)) throw new Error('packages/gateway/dist is missing: run `npm run build` first');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-bench-'));
  const log = o.json ? () => {} : (/** @type {string} */ line) => process.stderr.write(`${line}\n`);
  if (o.shards) {
    await compareShards(o, dir, log);
    if (o.keep) log(`logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
    return;
  }

  const redis = await startRedis({ dir, aof: o.aof, binary: o.redisServer });
  const info = new Redis(redis.url);
  const redisVersion = /redis_version:(\S+)/.exec(await info.info('server'))?.[1] ?? 'unknown';
  info.disconnect();

  const { pairs, file } = registry(o.n, o.inflight);
  const registryFile = path.join(dir, 'registry.json');
  writeRegistry(registryFile, file);
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });
  /** @param {string} name */
  const nodeArgs = (name) => [
    ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(o.cpuProf)}`, `--cpu-prof-name=${name}.cpuprofile`] : []),
    ...o.nodeArgs,
  ];
  const common = {
    dir,
    redisUrl: redis.url,
    prefix,
    registryFile,
    logLevel: o.logLevel,
    env: /** @type {Record<string, string>} */ (o.noRecording ? { RELAY_STREAM_MAX_BYTES: '0' } : {}),
  };
  const [a, b] = await Promise.all([
    startGateway({ ...common, name: 'node-a', nodeArgs: nodeArgs('node-a') }),
    startGateway({ ...common, name: 'node-b', nodeArgs: nodeArgs('node-b') }),
  ]);
  log(`redis ${redisVersion} at ${redis.url}; node A ${a.url} (apps), node B ${b.url} (agents); logs in ${dir}`);
  log(`running: ${o.warmupMs / 1000} s warm-up, ${o.durationMs / 1000} s measured ...`);

  const cpu = cpuWindow({ 'node A': a.child, 'node B': b.child, redis: redis.child });
  /** @type {Record<string, number>} */
  let cpuPercent = {};
  const relay = await runRelay({
    ...loadShape(o, pairs),
    appUrl: a.url,
    agentUrl: b.url,
    rate: o.rate,
    onWindow: (edge) => (edge === 'start' ? cpu.start() : (cpuPercent = cpu.end())),
  });
  if (relay.frames === 0) throw new Error(`no token frames arrived: ${relay.errorTexts.join(' | ') || 'see logs in ' + dir}`);

  log(o.rate ? `baseline: ${o.rate} frames/s through bare ioredis publish → subscribe ...` : 'baseline: the same frames through bare ioredis publish → subscribe ...');
  const baseline = o.rate
    ? await runBaselineOpenLoop({ redisUrl: redis.url, rate: o.rate, frameBytes: relay.frameBytes, warmupMs: o.warmupMs, durationMs: o.durationMs })
    : await runBaseline({
        redisUrl: redis.url,
        frames: relay.frames,
        frameBytes: relay.frameBytes,
        burst: o.tokens,
        streams: o.n * o.inflight,
      });
  await stopAll();
  if (o.keep) log(`logs kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });

  /** CPU time each of our processes spent per token frame relayed in the window. */
  const cpuPerFrameUs = Object.fromEntries(
    Object.entries(cpuPercent)
      .filter(([name]) => name !== 'other')
      .map(([name, percent]) => [name, (percent / 100) * relay.seconds * 1e6 / relay.frames]),
  );
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, redis: redisVersion },
    config: { n: o.n, tokens: o.tokens, inflight: o.inflight, rate: o.rate ?? null, tokenBytes: o.tokenBytes, warmupS: o.warmupMs / 1000, durationS: o.durationMs / 1000, aof: o.aof, recording: !o.noRecording, logLevel: o.logLevel, nodeArgs: o.nodeArgs },
    relay,
    baseline,
    ratio: { framesPerSec: relay.framesPerSec / baseline.framesPerSec, p99: relay.p99 / baseline.p99 },
    cpuPercent,
    cpuPerFrameUs,
  };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const row = (/** @type {string} */ name, /** @type {import('./load').Figures} */ f) =>
    `${name.padEnd(28)}${fmt(f.framesPerSec, 0).padStart(10)}${fmt(f.p50).padStart(10)}${fmt(f.p99).padStart(10)}${fmt(f.p999).padStart(10)}${String(f.frames).padStart(10)}${String(f.frameBytes).padStart(8)}`;
  process.stdout.write(
    [
      '',
      `Relay cluster benchmark, ${result.date}`,
      `${os.cpus().length} cores, Node ${process.version}, Redis ${redisVersion}${o.aof ? ' (AOF, fsync always)' : ' (no persistence)'}, token recording ${o.noRecording ? 'off' : 'on'}, all on 127.0.0.1`,
      `N=${o.n} apps on node A, ${o.n} agents on node B; T=${o.tokens} tokens/event + reply; ${o.inflight} events in flight per app;`,
      o.rate ? `open loop: ${o.rate} tokens/s in all, each stamped with the time it was due; ${relay.missed} due while every event in flight waited on the relay (not sent)` : 'closed loop: an event\'s tokens all at once, a new event as one ends',
      `token text ${o.tokenBytes} B; ${o.warmupMs / 1000} s warm-up, ${o.durationMs / 1000} s measured; node LOG_LEVEL=${o.logLevel}`,
      'The load generator (this process) shares the cores with both nodes and Redis: figures are a floor.',
      '',
      `${''.padEnd(28)}${'frames/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'p99.9 ms'.padStart(10)}${'frames'.padStart(10)}${'bytes'.padStart(8)}`,
      row('relay agent@B → app@A', relay),
      row('baseline ioredis pub → sub', baseline),
      `${'ratio relay / baseline'.padEnd(28)}${fmt(result.ratio.framesPerSec).padStart(10)}${''.padStart(10)}${fmt(result.ratio.p99).padStart(10)}${fmt(relay.p999 / baseline.p999).padStart(10)}`,
      ...(o.rate
        ? [`${'  sent ≤10 ms after a reply'.padEnd(28)}${''.padStart(10)}${fmt(relay.afterReply.p50 ?? NaN).padStart(10)}${fmt(relay.afterReply.p99 ?? NaN).padStart(10)}${''.padStart(10)}${String(relay.afterReply.frames).padStart(10)}`]
        : []),
      '',
      `CPU in the measured window, % of one core: ${Object.entries(cpuPercent).map(([k, v]) => `${k} ${fmt(v, 0)}`).join(', ')}`,
      `CPU per relayed token frame, µs (less sensitive to other load than frames/s): ${Object.entries(cpuPerFrameUs).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')}`,
      `Accounting: ${relay.events} events, ${relay.sent} tokens sent, ${relay.received} received, ${relay.lost} lost, ${relay.errors} error frames, ${relay.unfinished} events unfinished, ${relay.reopened} sockets dropped by a node at the upgrade and reopened`,
      ...relay.errorTexts.map((t) => `  error: ${t}`),
      ...relay.closedEarly.map((t) => `  socket ${t}`),
      '',
    ].join('\n'),
  );
}

runBench(main);
