import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { stopProcess } from './stop-process';

export interface RedisUnderTest {
  url: string;
  /** Key prefix for this test's relay nodes, unique per call, so a shared server stays clean. */
  prefix: string;
  /** SIGKILL the server (a crash); `start()` brings it back on the same port and data dir. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisOptions {
  /** AOF with fsync on every write, as in production: a restart keeps every accepted event. */
  appendonly?: boolean;
  /**
   * Start the local redis-server on this port, even if REDIS_URL or a container engine is there:
   * for a test whose relay already looks for Redis at that address (see `freePort`).
   */
  port?: number;
  /** A local replica of the primary on this port (implies the local binary, as `port` does). */
  replicaOf?: number;
}

/**
 * A Redis for one test file. With REDIS_URL set, that server is used (tests only add keys under
 * their own prefix and never flush it). Otherwise a container when a container engine answers,
 * else the local `redis-server` binary on a free port. Never touches the server on 6379.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisUnderTest> {
  const prefix = `relaytest-${randomBytes(4).toString('hex')}`;
  if (options.port !== undefined || options.replicaOf !== undefined) return { ...(await startLocal(options)), prefix };
  if (process.env.REDIS_URL) {
    const url = process.env.REDIS_URL;
    const fixed = async () => {
      throw new Error('cannot kill or restart an external REDIS_URL server');
    };
    return { url, prefix, kill: fixed, start: fixed, stop: async () => {} };
  }
  if (hasContainerEngine()) {
    const container = await startContainer(options).catch(() => undefined);
    if (container) return { ...container, prefix };
  }
  return { ...(await startLocal(options)), prefix };
}

function hasContainerEngine(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

async function startContainer(options: RedisOptions): Promise<Omit<RedisUnderTest, 'prefix'>> {
  const { GenericContainer } = await import('testcontainers');
  const args = ['redis-server', '--save', '', ...(options.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'])];
  const container = await new GenericContainer('redis:7').withCommand(args).withExposedPorts(6379).start();
  const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  return {
    url,
    kill: async () => {
      await container.stop({ timeout: 0 });
    },
    start: async () => {
      await container.restart();
    },
    stop: async () => {
      await container.stop();
    },
  };
}

/** A TCP port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startLocal(options: RedisOptions): Promise<Omit<RedisUnderTest, 'prefix'>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'relay-redis-'));
  const port = options.port ?? (await freePort());
  let proc: ChildProcess | undefined;
  const launch = async () => {
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--save', '',
      '--appendonly', options.appendonly ? 'yes' : 'no',
      '--appendfsync', 'always',
      '--protected-mode', 'no',
      ...(options.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(options.replicaOf)]),
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    await untilRedisReady(child);
  };
  const stopWith = async (signal: NodeJS.Signals) => {
    if (proc) await stopProcess(proc, signal);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    kill: () => stopWith('SIGKILL'),
    start: launch,
    stop: () => stopWith('SIGTERM'),
  };
}

/** Resolves once a spawned redis-server says it accepts connections; rejects with its output if it exits or takes over 10 s. */
export function untilRedisReady(child: ChildProcess): Promise<void> {
  let output = '';
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${output}`));
    });
  });
}

/**
 * A redis-server for a file's tests and one ioredis client to it, started before them and
 * stopped after; read `redis` and `client` inside the tests (they are set by then).
 */
export function useRedisServer(): { redis: RedisUnderTest; client: Redis } {
  const server = {} as { redis: RedisUnderTest; client: Redis };
  beforeAll(async () => {
    server.redis = await startRedis();
    server.client = new Redis(server.redis.url);
  });
  afterAll(async () => {
    server.client?.disconnect();
    await server.redis?.stop();
  });
  return server;
}
