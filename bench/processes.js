// @ts-check
// The processes a benchmark run owns: one redis-server and the gateway nodes. Every one is
// registered in `owned` as it starts, and `stopAll` ends them (SIGTERM, then SIGKILL).
const { spawn } = require('node:child_process');
const { openSync, readFileSync, writeFileSync } = require('node:fs');
const { createServer } = require('node:net');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const GATEWAY_MAIN = path.resolve(__dirname, '../packages/gateway/dist/main.js');

/** @typedef {{ name: string, proc: import('node:child_process').ChildProcess, log: string, failed?: Error }} Owned */

/** @type {Owned[]} */
const owned = [];

/** @returns {Promise<number>} a TCP port that was free on 127.0.0.1 a moment ago */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(address.port));
    });
  });
}

/**
 * Spawns a child whose stdout and stderr go to `<dir>/<name>.log` (nothing to read on our side).
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {string} dir
 * @param {NodeJS.ProcessEnv} [env]
 */
function own(name, command, args, dir, env) {
  const log = path.join(dir, `${name}.log`);
  const fd = openSync(log, 'w');
  const proc = spawn(command, args, { stdio: ['ignore', fd, fd], ...(env ? { env } : {}) });
  const entry = { name, proc, log, failed: /** @type {Error | undefined} */ (undefined) };
  proc.on('error', (err) => (entry.failed = err)); // e.g. no such binary: waitFor reports it
  owned.push(entry);
  return entry;
}

/**
 * A Node child of ours with an IPC channel (for a client process the benchmark steers).
 * @param {string} name @param {string} script @param {string} dir @param {NodeJS.ProcessEnv} [env]
 */
function ownFork(name, script, dir, env) {
  const log = path.join(dir, `${name}.log`);
  const fd = openSync(log, 'w');
  const proc = spawn(process.execPath, [script], { stdio: ['ignore', fd, fd, 'ipc'], ...(env ? { env } : {}) });
  const entry = { name, proc, log, failed: /** @type {Error | undefined} */ (undefined) };
  proc.on('error', (err) => (entry.failed = err));
  owned.push(entry);
  return entry;
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls until `check` resolves true; fails with the child's log if it exits or time runs out.
 * @param {Owned} child @param {() => Promise<boolean>} check @param {number} timeoutMs
 */
async function waitFor(child, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.failed) throw new Error(`${child.name} did not start: ${child.failed.message}`);
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`${child.name} exited early:\n${readFileSync(child.log, 'utf8')}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not become ready:\n${readFileSync(child.log, 'utf8')}`);
    await sleep(50);
  }
}

/**
 * A private redis-server on a free port (never 6379's), no RDB snapshots.
 * @param {{ dir: string, aof: boolean, binary: string }} options
 */
async function startRedis({ dir, aof, binary }) {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--protected-mode', 'no'];
  args.push('--appendonly', aof ? 'yes' : 'no', '--appendfsync', 'always');
  const child = own('redis', binary, args, dir);
  await waitFor(child, async () => /Ready to accept connections/.test(readFileSync(child.log, 'utf8')), 10_000);
  return { url: `redis://127.0.0.1:${port}`, child };
}

/**
 * A gateway node on a free port, ready (`/readyz` 200) before this resolves.
 * @param {{ name: string, dir: string, redisUrl: string, prefix: string, registryFile: string,
 *   logLevel: string, nodeArgs: string[], env?: Record<string, string> }} options
 */
async function startGateway({ name, dir, redisUrl, prefix, registryFile, logLevel, nodeArgs, env: extra = {} }) {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    RELAY_REDIS_PREFIX: prefix,
    RELAY_CONFIG: registryFile,
    RELAY_NODE_ID: name,
    LOG_LEVEL: logLevel,
    RELAY_SHUTDOWN_GRACE_MS: '3000',
    ...extra,
  };
  const child = own(name, process.execPath, [...nodeArgs, GATEWAY_MAIN], dir, env);
  const ready = () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
  await waitFor(child, ready, 20_000);
  return { url: `ws://127.0.0.1:${port}`, child };
}

/**
 * A node of the Socket.IO comparison relay (socketio-server.js) on a free port, ready first.
 * @param {{ name: string, dir: string, redisUrl: string, registryFile: string }} options
 */
async function startSocketIo({ name, dir, redisUrl, registryFile }) {
  const port = await freePort();
  const env = { PATH: process.env.PATH ?? '', PORT: String(port), REDIS_URL: redisUrl, REGISTRY: registryFile, NODE_ID: name };
  const child = own(name, process.execPath, [path.resolve(__dirname, 'socketio-server.js')], dir, env);
  const ready = () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
  await waitFor(child, ready, 20_000);
  return { url: `http://127.0.0.1:${port}`, child };
}

/**
 * CPU of the named processes, of this one ('load generator') and of everything else on the
 * machine ('other') between start() and end(), as % of one core.
 * @param {Record<string, Owned>} who
 */
function cpuWindow(who) {
  /** @type {Record<string, number>} */
  const atStart = {};
  let selfAtStart = process.cpuUsage();
  let machineAtStart = NaN;
  let startedAt = 0;
  return {
    start() {
      for (const [name, child] of Object.entries(who)) atStart[name] = cpuSeconds(child) ?? NaN;
      selfAtStart = process.cpuUsage();
      machineAtStart = machineBusySeconds() ?? NaN;
      startedAt = performance.now();
    },
    /** @returns {Record<string, number>} */
    end() {
      const seconds = (performance.now() - startedAt) / 1000;
      /** @type {Record<string, number>} */
      const percent = {};
      for (const [name, child] of Object.entries(who)) percent[name] = (100 * ((cpuSeconds(child) ?? NaN) - (atStart[name] ?? NaN))) / seconds;
      const self = process.cpuUsage(selfAtStart);
      percent['load generator'] = (self.user + self.system) / 1e4 / seconds;
      const ours = Object.values(percent).reduce((sum, v) => sum + v, 0);
      // Everything else on the machine (other jobs, the kernel's own work): non-zero is noise.
      percent.other = Math.max(0, (100 * ((machineBusySeconds() ?? NaN) - machineAtStart)) / seconds - ours);
      return percent;
    },
  };
}

/** @param {string} file @param {unknown} registry */
function writeRegistry(file, registry) {
  writeFileSync(file, JSON.stringify(registry));
}

/**
 * CPU seconds (user + system) a child has used so far, from /proc; undefined where there is none.
 * @param {Owned} child
 */
function cpuSeconds(child) {
  try {
    const stat = readFileSync(`/proc/${child.proc.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds the whole machine has spent busy (all cores, from /proc/stat), to tell how much
 * of the window went to processes that are not ours. Undefined where there is no /proc.
 */
function machineBusySeconds() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Ends every owned process: SIGTERM (a gateway drains and writes its --cpu-prof profile),
 * SIGKILL whatever is left after `graceMs`. Safe to call more than once.
 * @param {number} [graceMs]
 * @param {string[]} [names] only these (default: every process we own)
 */
async function stopAll(graceMs = 5_000, names) {
  const alive = owned.filter((o) => o.proc.exitCode === null && o.proc.signalCode === null && (!names || names.includes(o.name)));
  // Gateways first (they talk to Redis while draining), then Redis.
  const gateways = alive.filter((o) => o.name !== 'redis');
  const rest = alive.filter((o) => o.name === 'redis');
  for (const group of [gateways, rest]) {
    await Promise.all(
      group.map(async (o) => {
        const exited = new Promise((resolve) => o.proc.once('exit', resolve));
        o.proc.kill('SIGTERM');
        const timer = setTimeout(() => o.proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** Last resort on exit (synchronous): nothing we started outlives us. */
function killAllNow() {
  for (const o of owned) if (o.proc.exitCode === null && o.proc.signalCode === null) o.proc.kill('SIGKILL');
}

/**
 * Runs a bench's main() as the process: exit 0 when it resolves; on an error, its message and
 * exit 1; on SIGINT/SIGTERM, exit 130/143. Every owned process is stopped first, and killed on
 * any exit, so nothing we started outlives the bench.
 * @param {() => Promise<unknown>} main
 */
function runBench(main) {
  let stopping = false;
  /** @param {number} code */
  const shutdown = (code) => {
    if (stopping) return;
    stopping = true;
    stopAll(2_000).finally(() => process.exit(code));
  };
  process.on('SIGINT', () => shutdown(130));
  process.on('SIGTERM', () => shutdown(143));
  process.on('exit', killAllNow);
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
      shutdown(1);
    },
  );
}

module.exports = { freePort, own, ownFork, waitFor, startRedis, startGateway, startSocketIo, cpuWindow, writeRegistry, cpuSeconds, machineBusySeconds, stopAll, killAllNow, runBench, sleep };
