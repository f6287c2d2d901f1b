import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { freePort, untilRedisReady } from './redis-server';
import { stopProcess } from './stop-process';

const run = promisify(execFile);

export interface RedisClusterUnderTest {
  /** `redis://127.0.0.1:<port>` of every process, primaries and replicas: the seeds. */
  urls: string[];
  /** REDIS_CLUSTER_URLS for a relay node. */
  seeds: string;
  /** Key prefix for this caller, unique per call, so a shared cluster stays clean. */
  prefix: string;
  /** The port of the primary serving `slot` right now. */
  primaryOf(slot: number): Promise<number>;
  /**
   * SIGKILLs the primary serving `slot` and waits until the cluster has promoted its replica and
   * is `cluster_state:ok` again. Returns the killed port.
   */
  killPrimaryOf(slot: number): Promise<number>;
  /** Starts a killed member again on its port and data: it rejoins as a replica of its shard. */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

interface Member {
  port: number;
  busPort: number;
  dir: string;
  proc: ChildProcess;
}

/**
 * A real Redis Cluster on loopback: six `redis-server --cluster-enabled yes` processes (three
 * primaries, a replica each) on free ports, each with its own temp dir, AOF with fsync always as
 * in production. Starting one costs a few seconds, so share one per test file.
 */
export async function startRedisCluster(): Promise<RedisClusterUnderTest> {
  const members: Member[] = [];
  try {
    for (let i = 0; i < 6; i++) members.push(await launchOnFreePorts());
    const addresses = members.map((m) => `127.0.0.1:${m.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes']);
    await until(async () => (await Promise.all(members.map((m) => clusterOk(m.port)))).every(Boolean), 'cluster_state:ok on every member');
    // A replica still loading its first copy acknowledges no write (WAIT): wait for all of them.
    await until(async () => (await Promise.all(members.map((m) => replicaSynced(m.port)))).every(Boolean), 'every replica in sync');
  } catch (err) {
    await Promise.all(members.map(stopMember));
    throw err;
  }

  const alive = () => members.filter((m) => m.proc.exitCode === null && m.proc.signalCode === null);
  const primaryOf = async (slot: number): Promise<number> => {
    for (const m of alive()) {
      const nodes = await cli(m.port, 'CLUSTER', 'NODES').catch(() => '');
      const port = ownerIn(nodes, slot);
      if (port !== undefined) return port;
    }
    throw new Error(`no live member knows slot ${slot}`);
  };
  const urls = members.map((m) => `redis://127.0.0.1:${m.port}`);
  return {
    urls,
    seeds: urls.join(','),
    prefix: `relaytest-${randomBytes(4).toString('hex')}`,
    primaryOf,
    async killPrimaryOf(slot) {
      const port = await primaryOf(slot);
      const victim = members.find((m) => m.port === port);
      if (!victim) throw new Error(`port ${port} is not a member`);
      await stopProcess(victim.proc, 'SIGKILL');
      await until(async () => {
        const owner = await primaryOf(slot).catch(() => port);
        if (owner === port) return false;
        return (await Promise.all(alive().map((m) => clusterOk(m.port)))).every(Boolean);
      }, `a replica promoted for slot ${slot}`);
      return port;
    },
    async restart(port) {
      const i = members.findIndex((m) => m.port === port);
      const member = members[i];
      if (!member) throw new Error(`port ${port} is not a member`);
      members[i] = await launch(member.port, member.busPort, member.dir);
      await until(async () => (await replicaSynced(port)) && (await clusterOk(port)), `port ${port} back in sync`);
    },
    async stop() {
      await Promise.all(members.map(stopMember));
    },
  };
}

/**
 * A member on ports the OS found free. The cluster bus gets its own port (`cluster-port`), not
 * the default port + 10000, which an outgoing connection may hold. Between finding a port free
 * and binding it another process may take it: then try other ports.
 */
async function launchOnFreePorts(): Promise<Member> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(await freePort(), await freePort());
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err;
    }
  }
}

async function launch(port: number, busPort: number, dir = mkdtempSync(path.join(tmpdir(), 'relay-redis-cluster-'))): Promise<Member> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'yes',
    '--appendfsync', 'always',
    '--protected-mode', 'no',
    '--cluster-enabled', 'yes',
    '--cluster-config-file', 'nodes.conf',
    '--cluster-port', String(busPort),
    // Fast failover for tests: a primary silent for a second is failed over.
    '--cluster-node-timeout', '1000',
    // A replica's first sync starts at once, not after the default 5 s wait for more replicas
    // to share a diskless transfer: each cluster start waited on it, once per test file.
    '--repl-diskless-sync-delay', '0',
  ];
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await untilRedisReady(proc);
  } catch (err) {
    await stopProcess(proc, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Keep draining its output so a chatty server never blocks on a full pipe.
  proc.stdout?.resume();
  proc.stderr?.resume();
  return { port, busPort, dir, proc };
}

async function stopMember(member: Member): Promise<void> {
  await stopProcess(member.proc, 'SIGTERM');
  rmSync(member.dir, { recursive: true, force: true });
}

async function cli(port: number, ...args: string[]): Promise<string> {
  return (await run('redis-cli', ['-p', String(port), '-h', '127.0.0.1', ...args])).stdout;
}

/** A primary, or a replica whose link to its primary is up. */
async function replicaSynced(port: number): Promise<boolean> {
  const info = await cli(port, 'INFO', 'replication').catch(() => '');
  return /role:master/.test(info) || /master_link_status:up/.test(info);
}

async function clusterOk(port: number): Promise<boolean> {
  return /cluster_state:ok/.test(await cli(port, 'CLUSTER', 'INFO').catch(() => ''));
}

/**
 * The primary's port for `slot` in one member's CLUSTER NODES view: lines of
 * `id host:port@bus flags master ping pong epoch link slot-range…`.
 */
function ownerIn(nodes: string, slot: number): number | undefined {
  for (const line of nodes.split('\n')) {
    const [, address, flags, , , , , , ...ranges] = line.trim().split(' ');
    if (!address || !flags?.includes('master') || flags.includes('fail')) continue;
    for (const range of ranges) {
      const [from, to = from] = range.split('-').map(Number);
      if (from !== undefined && to !== undefined && from <= slot && slot <= to) return Number(address.split(':')[1]?.split('@')[0]);
    }
  }
  return undefined;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
