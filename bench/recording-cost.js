// @ts-check
// `bench:cluster --recording both`: what recording tokens for `resume` costs. Rounds of the
// cluster benchmark with recording on and off in turn (on, off, on, …), each a whole run of
// bench/cluster.js with the same options and its own Redis and nodes, so load from elsewhere
// on a shared machine falls on both modes alike; then each mode's medians, and the cost: the
// share of token frames/s lost and of CPU per frame added with recording on, from the medians
// and as the median over neighbouring on/off pairs (which cancels load that drifts during the
// run). Node A (the apps' node) does the same work in both modes, so node B's CPU per frame is
// also shown relative to node A's in the same window: what contention from other processes adds
// to both cancels out. See docs/benchmarks.md.
const { spawn } = require('node:child_process');
const { median } = require('./samples');

/** Options that choose the rounds, not what each round runs. */
const OWN = new Set(['--recording', '--rounds', '--json', '--no-recording']);
const TAKES_VALUE = new Set(['--recording', '--rounds']);

/** @param {string[]} argv this run's arguments @returns {string[]} those each round gets */
function roundArgs(argv) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const name = arg.split('=')[0] ?? '';
    if (!OWN.has(name)) out.push(arg);
    else if (TAKES_VALUE.has(name) && !arg.includes('=')) i++;
  }
  return out;
}

/**
 * One round: bench/cluster.js with --json; resolves with its figures.
 * @param {string} script @param {string[]} args
 * @returns {Promise<any>}
 */
function round(script, args) {
  const env = { ...process.env };
  for (const name of ['BENCH_RECORDING', 'BENCH_ROUNDS', 'BENCH_NO_RECORDING']) delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args, '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`a round exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? ''));
      } catch (err) {
        reject(new Error(`a round printed no figures: ${String(err)}`));
      }
    });
  });
}

/** @param {number} x */
const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

/**
 * @param {string} script bench/cluster.js
 * @param {string[]} argv this run's arguments
 * @param {{ rounds: number, json: boolean, noRecording: boolean, cpuProf?: string | undefined, shards?: number | undefined }} o
 */
async function alternateRecording(script, argv, o) {
  if (o.noRecording) throw new Error('--recording both runs rounds with recording off itself: drop --no-recording');
  if (o.cpuProf) throw new Error('--cpu-prof profiles one run: use it without --recording both');
  if (o.shards) throw new Error('--recording both and --shards are two comparisons: run them apart');
  if (o.rounds < 2) throw new Error('--recording both needs --rounds 2 or more');
  const log = o.json ? () => {} : (/** @type {string} */ line) => process.stderr.write(`${line}\n`);
  const args = roundArgs(argv);
  /** @type {{ on: any[], off: any[] }} */
  const runs = { on: [], off: [] };
  for (let i = 0; i < o.rounds; i++) {
    const mode = i % 2 === 0 ? 'on' : 'off';
    log(`round ${i + 1} of ${o.rounds}: recording ${mode} ...`);
    const r = await round(script, mode === 'on' ? args : [...args, '--no-recording']);
    runs[mode].push(r);
    const us = Object.entries(r.cpuPerFrameUs).map(([k, v]) => `${k} ${fmt(Number(v), 1)}`).join(', ');
    log(`  ${fmt(r.relay.framesPerSec, 0)} frames/s; µs per frame: ${us}; other CPU ${fmt(r.cpuPercent.other, 0)} % of a core`);
  }
  /** @param {(r: any) => number} pick */
  const medians = (pick) => ({ on: median(runs.on.map(pick)), off: median(runs.off.map(pick)) });
  const m = {
    framesPerSec: medians((r) => r.relay.framesPerSec),
    p50: medians((r) => r.relay.p50),
    p99: medians((r) => r.relay.p99),
    nodeAUsPerFrame: medians((r) => r.cpuPerFrameUs['node A']),
    nodeBUsPerFrame: medians((r) => r.cpuPerFrameUs['node B']),
    redisUsPerFrame: medians((r) => r.cpuPerFrameUs.redis),
    otherCpuPercent: medians((r) => r.cpuPercent.other),
  };
  /** @param {{ on: number, off: number }} x the share CPU per frame grows by with recording */
  const added = (x) => x.on / x.off - 1;
  /** Node B's CPU per frame over node A's, in one window. @param {any} r */
  const bOverA = (r) => r.cpuPerFrameUs['node B'] / r.cpuPerFrameUs['node A'];
  const cost = {
    framesPerSec: 1 - m.framesPerSec.on / m.framesPerSec.off,
    nodeAUsPerFrame: added(m.nodeAUsPerFrame),
    nodeBUsPerFrame: added(m.nodeBUsPerFrame),
    redisUsPerFrame: added(m.redisUsPerFrame),
    nodeBOverA: added(medians(bOverA)),
  };
  /** The median, over on/off pairs (rounds 1–2, 3–4 …), of what one figure costs. @param {(r: any) => number} pick @param {boolean} [lost] */
  const paired = (pick, lost = false) =>
    median(runs.off.map((off, i) => (lost ? 1 - pick(runs.on[i]) / pick(off) : pick(runs.on[i]) / pick(off) - 1)).filter(Number.isFinite));
  const pairedCost = {
    framesPerSec: paired((r) => r.relay.framesPerSec, true),
    nodeAUsPerFrame: paired((r) => r.cpuPerFrameUs['node A']),
    nodeBUsPerFrame: paired((r) => r.cpuPerFrameUs['node B']),
    redisUsPerFrame: paired((r) => r.cpuPerFrameUs.redis),
    nodeBOverA: paired(bOverA),
  };
  const all = [...runs.on, ...runs.off];
  const lost = all.reduce((n, r) => n + r.relay.lost, 0);
  const errors = all.reduce((n, r) => n + r.relay.errors, 0);
  const result = { date: new Date().toISOString(), config: { ...runs.on[0].config, recording: 'both', rounds: o.rounds }, medians: m, cost, pairedCost, lost, errors, runs };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const c = result.config;
  const pct = (/** @type {number} */ x) => `${x >= 0 ? '+' : ''}${fmt(100 * x, 1)} %`;
  const row = (/** @type {string} */ name, /** @type {{ on: number, off: number }} */ x, /** @type {number} */ digits, cost = '', pairs = '') =>
    `${name.padEnd(24)}${fmt(x.on, digits).padStart(10)}${fmt(x.off, digits).padStart(10)}${cost.padStart(12)}${pairs.padStart(14)}`;
  process.stdout.write(
    [
      '',
      `Relay cluster benchmark, token recording on against off, ${result.date}`,
      `N=${c.n}, T=${c.tokens}, ${c.inflight} in flight per app, token text ${c.tokenBytes} B${c.rate ? `, open loop at ${c.rate} tokens/s` : ''}${c.aof ? ', AOF fsync always' : ''}`,
      `${o.rounds} rounds, on and off in turn, each ${c.warmupS} s warm-up + ${c.durationS} s measured on its own Redis and nodes; medians per mode`,
      '',
      `${''.padEnd(24)}${'on'.padStart(10)}${'off'.padStart(10)}${'cost'.padStart(12)}${'pairs: cost'.padStart(14)}`,
      row('token frames/s', m.framesPerSec, 0, pct(cost.framesPerSec), pct(pairedCost.framesPerSec)),
      row('p50 ms', m.p50, 2),
      row('p99 ms', m.p99, 2),
      row('node A µs/frame', m.nodeAUsPerFrame, 1, pct(cost.nodeAUsPerFrame), pct(pairedCost.nodeAUsPerFrame)),
      row('node B µs/frame', m.nodeBUsPerFrame, 1, pct(cost.nodeBUsPerFrame), pct(pairedCost.nodeBUsPerFrame)),
      row('node B / node A', medians(bOverA), 3, pct(cost.nodeBOverA), pct(pairedCost.nodeBOverA)),
      row('Redis µs/frame', m.redisUsPerFrame, 1, pct(cost.redisUsPerFrame), pct(pairedCost.redisUsPerFrame)),
      row('other CPU, % of a core', m.otherCpuPercent, 0),
      '',
      'cost: frames/s lost, and CPU per frame added, with recording on (positive = recording costs); from the',
      "medians, and the median over on/off pairs. Node A's work is the same in both modes: what its figure",
      'moves is other load on the machine, and node B / node A cancels that from node B.',
      `Tokens lost over all rounds: ${lost}; error frames: ${errors}.`,
      '',
    ].join('\n'),
  );
}

module.exports = { alternateRecording };
