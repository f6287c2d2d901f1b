#!/usr/bin/env node
// @ts-check
// The durable event path against a plain job queue (issue 13): one gateway node on its own
// redis-server, N apps keeping W events in flight each to their agents, who answer at once with
// T tokens and a reply; then, on the same redis-server once the node has stopped, BullMQ's
// add → process → complete with N × W jobs in flight. See docs/benchmarks.md.
// Usage: npm run bench:events -- --help
const { randomBytes } = require('node:crypto');
const { existsSync, mkdirSync, mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Redis } = require('ioredis');
const { runBullmq, runRelayEvents } = require('./events-load');
const { cpuWindow, runBench, startGateway, startRedis, stopAll, writeRegistry } = require('./processes');
const { registry } = require('./registry');
const { median } = require('./samples');

const HELP = `npm run bench:events -- [options]

  --n N             apps, and as many agents (agent i serves app i)   (1)
  --inflight W      events each app keeps in flight                   (50)
  --rate R          open loop instead: R events a second across the
                    apps (BullMQ: R adds a second), whatever is in
                    flight; W is then BullMQ's worker concurrency ÷ N
  --tokens T        tokens per event before the reply                 (0)
  --warmup S        seconds before measuring                          (2)
  --duration S      seconds measured, each system                     (8)
  --rounds R        rounds, each Relay then BullMQ on a Redis of its
                    own; the table gives the medians                  (1)
  --aof             Redis with AOF and appendfsync always
  --keys            each event with an idempotency key, as the SDKs send
                    them (BullMQ: each job under a job id of its own)
  --redis-server P  redis-server binary                               (redis-server)
  --json            print the figures as one JSON object instead
  --cpu-prof DIR    run the node with node --cpu-prof into DIR (node.cpuprofile)
  --log-level L     the node's LOG_LEVEL                              (info)
  --node-args=A     extra flags for the node, space-separated, e.g.
                    --node-args=--max-semi-space-size=32
`;

/** @param {string | undefined} dir */
function cpuProfArgs(dir) {
  if (!dir) return [];
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${path.resolve(dir)}`, '--cpu-prof-name=node.cpuprofile'];
}

function options() {
  const { values } = parseArgs({
    options: {
      n: { type: 'string' },
      inflight: { type: 'string' },
      rate: { type: 'string' },
      tokens: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      aof: { type: 'boolean' },
      keys: { type: 'boolean' },
      'redis-server': { type: 'string' },
      json: { type: 'boolean' },
      'cpu-prof': { type: 'string' },
      'log-level': { type: 'string' },
      'node-args': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  /** @param {string | undefined} flag @param {number} fallback @param {string} name @param {number} min */
  const num = (flag, fallback, name, min = 1) => {
    const value = Number(flag ?? fallback);
    if (!(value >= min)) throw new Error(`${name} must be a number ≥ ${min}`);
    return value;
  };
  return {
    n: Math.floor(num(values.n, 1, '--n')),
    inflight: Math.floor(num(values.inflight, 50, '--inflight')),
    rate: values.rate === undefined ? undefined : num(values.rate, 0, '--rate'),
    tokens: Math.floor(num(values.tokens, 0, '--tokens', 0)),
    warmupMs: num(values.warmup, 2, '--warmup', 0) * 1000,
    durationMs: num(values.duration, 8, '--duration') * 1000,
    rounds: Math.floor(num(values.rounds, 1, '--rounds')),
    aof: values.aof ?? false,
    keys: values.keys ?? false,
    redisServer: values['redis-server'] ?? 'redis-server',
    json: values.json ?? false,
    cpuProf: values['cpu-prof'],
    logLevel: values['log-level'] ?? 'info',
    nodeArgs: (values['node-args'] ?? '').split(' ').filter(Boolean),
  };
}

/**
 * INFO commandstats as calls and usec per command. A command a script runs is counted under
 * its own name too, and its time is also inside the script's: the usec total counts it twice.
 * @param {Redis} redis @returns {Promise<Map<string, { calls: number, usec: number }>>}
 */
async function commandStats(redis) {
  const stats = new Map();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) stats.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return stats;
}

/** @param {Map<string, { calls: number, usec: number }>} before @param {Map<string, { calls: number, usec: number }>} after */
function statsDelta(before, after) {
  /** @type {{ command: string, calls: number, usec: number }[]} */
  const rows = [];
  for (const [command, a] of after) {
    const b = before.get(command) ?? { calls: 0, usec: 0 };
    if (a.calls > b.calls) rows.push({ command, calls: a.calls - b.calls, usec: a.usec - b.usec });
  }
  return rows.sort((x, y) => y.usec - x.usec);
}

/**
 * The node's garbage-collection pauses so far, seconds by kind (prom-client's default metrics).
 * @param {string} httpUrl @returns {Promise<Record<string, number>>}
 */
async function gcSeconds(httpUrl) {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  /** @type {Record<string, number>} */
  const out = {};
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} (\S+)$/gm)) out[m[1] ?? ''] = Number(m[2]);
  return out;
}

/**
 * Redis's read events so far: each is one batch of commands read from a client, so with one
 * event in flight their count per event is the event's round trips to Redis.
 * @param {Redis} redis
 */
async function readsProcessed(redis) {
  return Number(/total_reads_processed:(\d+)/.exec(await redis.info('stats'))?.[1] ?? NaN);
}

/** @param {number} x */
const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const SCRIPTS = new Set(['evalsha', 'eval', 'fcall', 'evalsha_ro', 'eval_ro']);

/**
 * One round: a Redis of its own, Relay's load on one node, then BullMQ's on the same Redis.
 * @param {ReturnType<typeof options>} o @param {(line: string) => void} log
 */
async function round(o, log) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-bench-events-'));
  const redis = await startRedis({ dir, aof: o.aof, binary: o.redisServer });
  const admin = new Redis(redis.url);
  const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
  const { pairs, file } = registry(o.n, o.inflight);
  const registryFile = path.join(dir, 'registry.json');
  writeRegistry(registryFile, file);
  const node = await startGateway({ name: 'node', dir, redisUrl: redis.url, prefix: `bench-${randomBytes(3).toString('hex')}`, registryFile, logLevel: o.logLevel, nodeArgs: [...cpuProfArgs(o.cpuProf), ...o.nodeArgs] });
  log(`redis ${redisVersion} at ${redis.url}${o.aof ? ' (AOF, fsync always)' : ''}; node ${node.url}; logs in ${dir}`);

  /**
   * The CPU of `who`, Redis's commandstats and, given its URL, the node's GC pauses across the
   * measured window.
   * @param {Record<string, any>} who @param {string} [gcUrl]
   */
  const measured = (who, gcUrl) => {
    const cpu = cpuWindow(who);
    /** @type {Map<string, { calls: number, usec: number }>} */
    let before = new Map();
    /** @type {Record<string, number>} */
    let gcBefore = {};
    let readsBefore = 0;
    const out = {
      reads: 0,
      cpuPercent: /** @type {Record<string, number>} */ ({}),
      commands: /** @type {ReturnType<typeof statsDelta>} */ ([]),
      gcSeconds: /** @type {Record<string, number>} */ ({}),
    };
    return {
      out,
      /** @param {'start' | 'end'} edge */
      async onWindow(edge) {
        if (edge === 'start') {
          if (gcUrl) gcBefore = await gcSeconds(gcUrl);
          before = await commandStats(admin);
          readsBefore = await readsProcessed(admin);
          cpu.start();
        } else {
          out.cpuPercent = cpu.end();
          out.commands = statsDelta(before, await commandStats(admin));
          out.reads = (await readsProcessed(admin)) - readsBefore;
          if (gcUrl) {
            const gcAfter = await gcSeconds(gcUrl);
            out.gcSeconds = Object.fromEntries(Object.entries(gcAfter).map(([kind, s]) => [kind, s - (gcBefore[kind] ?? 0)]));
          }
        }
      },
    };
  };

  log(`relay: ${loadOf(o)}, ${o.tokens} tokens each ...`);
  const relayWindow = measured({ node: node.child, redis: redis.child }, node.url.replace(/^ws:/, 'http:'));
  const relay = await runRelayEvents({ url: node.url, pairs, inflight: o.inflight, rate: o.rate, tokens: o.tokens, keys: o.keys, warmupMs: o.warmupMs, durationMs: o.durationMs, onWindow: relayWindow.onWindow });
  if (relay.events === 0) throw new Error(`no event finished: ${relay.errorTexts.join(' | ') || `see logs in ${dir}`}`);
  await stopAll(5_000, ['node']); // its heartbeats would count in BullMQ's commandstats

  log(o.rate === undefined ? `BullMQ: ${o.n * o.inflight} jobs in flight ...` : `BullMQ: ${o.rate} adds/s ...`);
  const bullWindow = measured({ redis: redis.child });
  const bull = await runBullmq({ redisUrl: redis.url, inflight: o.n * o.inflight, rate: o.rate, keys: o.keys, warmupMs: o.warmupMs, durationMs: o.durationMs, onWindow: bullWindow.onWindow });
  admin.disconnect();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });

  /** @param {import('./events-load').EventFigures} f @param {ReturnType<typeof measured>['out']} w */
  const perEvent = (f, w) => {
    const us = (/** @type {number} */ percent) => ((percent / 100) * f.seconds * 1e6) / f.events;
    const sum = (/** @type {(c: { command: string, calls: number, usec: number }) => number} */ pick) => w.commands.reduce((s, c) => s + pick(c), 0);
    return {
      cpuUs: Object.fromEntries(Object.entries(w.cpuPercent).filter(([k]) => k !== 'other').map(([k, v]) => [k, us(v)])),
      otherPercent: w.cpuPercent.other ?? NaN,
      commandstatsUs: sum((c) => c.usec) / f.events,
      scriptUs: sum((c) => (SCRIPTS.has(c.command) ? c.usec : 0)) / f.events,
      commands: sum((c) => c.calls) / f.events,
      reads: w.reads / f.events,
      scripts: sum((c) => (SCRIPTS.has(c.command) ? c.calls : 0)) / f.events,
      gcPauseUs: Object.fromEntries(Object.entries(w.gcSeconds).map(([kind, s]) => [kind, (s * 1e6) / f.events])),
      top: w.commands.slice(0, 8).map((c) => ({ command: c.command, perEvent: c.calls / f.events, usecPerCall: c.usec / c.calls })),
    };
  };
  return { redisVersion, relay: { ...relay, ...perEvent(relay, relayWindow.out) }, bullmq: { ...bull, ...perEvent(bull, bullWindow.out) } };
}

/** Relay's load, in words. @param {ReturnType<typeof options>} o */
const loadOf = (o) => (o.rate === undefined ? `${o.n} app(s) × ${o.inflight} events in flight` : `${o.n} app(s), ${o.rate} events/s in all`);

/**
 * One system's figures over the rounds: counts summed, every other number the median of the
 * rounds' (each on its own), the commands per event and error texts of the first round.
 * @template {Record<string, any>} T @param {T[]} figures @returns {T}
 */
function overRounds(figures) {
  const [first] = figures;
  if (figures.length === 1 || first === undefined) return /** @type {T} */ (first);
  /** @type {Record<string, any>} */
  const out = {};
  for (const [key, value] of Object.entries(first)) {
    const all = figures.map((f) => f[key]);
    if (['events', 'errors', 'unfinished'].includes(key)) out[key] = all.reduce((a, b) => a + b, 0);
    else if (typeof value === 'number') out[key] = median(all);
    else if (value && typeof value === 'object' && !Array.isArray(value)) out[key] = overRounds(all);
    else out[key] = value;
  }
  return /** @type {T} */ (out);
}

async function main() {
  const o = options();
  if (!existsSync(path.resolve(__dirname, '../packages/gateway/dist/main.js'))) throw new Error('packages/gateway/dist is missing: run `npm run build` first');
  if (o.cpuProf && o.rounds > 1) throw new Error('--cpu-prof profiles one round: leave out --rounds');
  const log = o.json ? () => {} : (/** @type {string} */ line) => process.stderr.write(`${line}\n`);
  /** @type {Awaited<ReturnType<typeof round>>[]} */
  const rounds = [];
  for (let i = 0; i < o.rounds; i++) {
    const r = await round(o, log);
    rounds.push(r);
    log(`round ${i + 1}: relay ${fmt(r.relay.eventsPerSec)} events/s, BullMQ ${fmt(r.bullmq.eventsPerSec)} jobs/s (${fmt(r.relay.eventsPerSec / r.bullmq.eventsPerSec, 2)} ×); Redis CPU per event ${fmt((r.relay.cpuUs.redis ?? NaN) / (r.bullmq.cpuUs.redis ?? NaN), 2)} × BullMQ's; node ${fmt(r.relay.cpuUs.node ?? NaN)} µs per event; accept p99 ${fmt(r.relay.acceptP99, 2)} ms`);
  }
  const redisVersion = rounds[0]?.redisVersion ?? 'unknown';
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, redis: redisVersion },
    config: { n: o.n, inflight: o.inflight, rate: o.rate ?? null, tokens: o.tokens, warmupS: o.warmupMs / 1000, durationS: o.durationMs / 1000, rounds: o.rounds, aof: o.aof, keys: o.keys, nodeArgs: o.nodeArgs },
    relay: overRounds(rounds.map((r) => r.relay)),
    bullmq: overRounds(rounds.map((r) => r.bullmq)),
    /** Each round's Relay ÷ BullMQ, then the median over the rounds. */
    ratios: {
      eventsPerSec: median(rounds.map((r) => r.relay.eventsPerSec / r.bullmq.eventsPerSec)),
      redisCpuPerEvent: median(rounds.map((r) => (r.relay.cpuUs.redis ?? NaN) / (r.bullmq.cpuUs.redis ?? NaN))),
    },
    rounds: o.rounds > 1 ? rounds.map(({ relay, bullmq }) => ({ relay, bullmq })) : undefined,
  };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const r = result.relay;
  const b = result.bullmq;
  const row = (/** @type {string} */ label, /** @type {string} */ x, /** @type {string} */ y) => `${label.padEnd(44)} ${x.padStart(17)} ${y.padStart(17)}`;
  process.stdout.write(
    [
      '',
      `Events against jobs, ${result.date}; ${os.cpus().length} cores, Node ${process.version}, Redis ${redisVersion}${o.aof ? ' (AOF, fsync always)' : ' (no persistence)'}, all on 127.0.0.1`,
      `Relay: one node, ${loadOf(o)}, ${o.tokens} tokens + a reply each${o.keys ? ', each with an idempotency key' : ''}; BullMQ: ${o.rate === undefined ? `${o.n * o.inflight} jobs in flight` : `${o.rate} adds/s`}, worker concurrency ${o.n * o.inflight}, in this process; node LOG_LEVEL=${o.logLevel}${o.nodeArgs.length ? ` ${o.nodeArgs.join(' ')}` : ''}`,
      `${o.warmupMs / 1000} s warm-up, ${o.durationMs / 1000} s measured each${o.rounds > 1 ? `; ${o.rounds} rounds, each on a Redis of its own: medians of the rounds` : ''}. Everything shares the cores: CPU per event is the figure to compare.`,
      '',
      row('', 'relay', 'bullmq'),
      row('events (jobs) per second', fmt(r.eventsPerSec), fmt(b.eventsPerSec)),
      row('  relay ÷ bullmq (median of the rounds\')', fmt(result.ratios.eventsPerSec, 2), ''),
      row('accept (add) latency p50 / p99 ms', `${fmt(r.acceptP50, 2)} / ${fmt(r.acceptP99, 1)}`, `${fmt(b.acceptP50, 2)} / ${fmt(b.acceptP99, 1)}`),
      row('accept → final (add → completed) p50 / p99', `${fmt(r.finalP50, 2)} / ${fmt(r.finalP99, 1)}`, `${fmt(b.finalP50, 2)} / ${fmt(b.finalP99, 1)}`),
      row('node CPU per event µs', fmt(r.cpuUs.node ?? NaN), '—'),
      row('node GC pause per event µs (minor / major)', `${fmt(r.gcPauseUs.minor ?? NaN)} / ${fmt((r.gcPauseUs.major ?? 0) + (r.gcPauseUs.incremental ?? 0))}`, '—'),
      row('Redis CPU per event µs (/proc)', fmt(r.cpuUs.redis ?? NaN), fmt(b.cpuUs.redis ?? NaN)),
      row('  relay ÷ bullmq (median of the rounds\')', fmt(result.ratios.redisCpuPerEvent, 2), ''),
      row('Redis commandstats usec per event (all)', fmt(r.commandstatsUs), fmt(b.commandstatsUs)),
      row('  … of it in scripts (EVALSHA etc.)', fmt(r.scriptUs), fmt(b.scriptUs)),
      row('Redis commands per event (inside scripts too)', fmt(r.commands, 1), fmt(b.commands, 1)),
      row('  … of them scripts', fmt(r.scripts, 1), fmt(b.scripts, 1)),
      row('Redis reads per event (batches in; W = 1: round trips)', fmt(r.reads, 1), fmt(b.reads, 1)),
      row('load generator CPU per event µs', fmt(r.cpuUs['load generator'] ?? NaN), fmt(b.cpuUs['load generator'] ?? NaN)),
      row('other processes, % of a core', fmt(r.otherPercent), fmt(b.otherPercent)),
      '',
      `Relay's commands per event${o.rounds > 1 ? ' (first round)' : ''}: ${r.top.map((c) => `${c.command} ${fmt(c.perEvent, 1)} × ${fmt(c.usecPerCall, 1)} µs`).join(', ')}`,
      `BullMQ's commands per job${o.rounds > 1 ? ' (first round)' : ''}: ${b.top.map((c) => `${c.command} ${fmt(c.perEvent, 1)} × ${fmt(c.usecPerCall, 1)} µs`).join(', ')}`,
      `Accounting${o.rounds > 1 ? ', all rounds' : ''}: relay ${r.events} events in the windows, ${r.errors} error frames, ${r.unfinished} unfinished; BullMQ ${b.events} jobs, ${b.unfinished} unfinished`,
      ...r.errorTexts.map((t) => `  error: ${t}`),
      '',
    ].join('\n'),
  );
}

runBench(main);
