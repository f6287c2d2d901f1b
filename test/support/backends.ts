import { randomBytes } from 'node:crypto';
import { startRedis, type RedisUnderTest } from './redis-server';

/**
 * The backends the conformance suite runs against. RELAY_TEST_BACKENDS (e.g. "redis") narrows
 * the list for a quicker local run.
 */
export interface BackendUnderTest {
  name: string;
  /** Environment for a relay node on this backend: may start what it needs; each call is a clean slate. */
  env(): Promise<Record<string, string>>;
  /** Stops whatever env() started. */
  teardown(): Promise<void>;
}

export const memoryBackend: BackendUnderTest = {
  name: 'memory',
  env: async () => ({}),
  teardown: async () => {},
};

/** A redis-server of this test file's own; every env() gets a fresh key prefix on it. */
export function redisBackend(): BackendUnderTest {
  let server: RedisUnderTest | undefined;
  return {
    name: 'redis',
    async env() {
      server ??= await startRedis();
      return { REDIS_URL: server.url, RELAY_REDIS_PREFIX: `${server.prefix}-${randomBytes(3).toString('hex')}` };
    },
    async teardown() {
      await server?.stop();
      server = undefined;
    },
  };
}

/** Three nodes on one redis-server behind a round-robin load balancer (see startRelay). */
export function redisClusterBackend(): BackendUnderTest {
  const redis = redisBackend();
  return {
    name: 'redis-3-nodes',
    env: async () => ({ ...(await redis.env()), RELAY_TEST_NODES: '3' }),
    teardown: () => redis.teardown(),
  };
}

/**
 * Every backend, or those RELAY_TEST_BACKENDS names. `singleNode` leaves out the balanced
 * cluster, for suites about one process (its metrics, its signals, its memory).
 */
export function backendsUnderTest(options: { singleNode?: boolean } = {}): BackendUnderTest[] {
  const only = process.env.RELAY_TEST_BACKENDS?.split(',').map((s) => s.trim());
  const all = [memoryBackend, redisBackend(), ...(options.singleNode ? [] : [redisClusterBackend()])];
  // A run narrowed to the cluster still runs the single-node suites, on one Redis node.
  const wanted = (name: string) =>
    !only || only.includes(name) || (options.singleNode === true && name === 'redis' && only.includes('redis-3-nodes'));
  return all.filter((b) => wanted(b.name));
}
