import { randomBytes } from 'node:crypto';
import { startRedisCluster, type RedisClusterUnderTest } from './redis-cluster';
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

/**
 * A redis-server the test itself holds (to kill and restart it, say, or to give it AOF); each
 * env() gets a fresh key prefix on it and teardown leaves the server to the test.
 */
export function onRedisServer(server: RedisUnderTest): BackendUnderTest {
  return {
    name: 'redis',
    env: async () => ({ REDIS_URL: server.url, RELAY_REDIS_PREFIX: `${server.prefix}-${randomBytes(3).toString('hex')}` }),
    teardown: async () => {},
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

/** One local Redis Cluster per test file, whatever number of suites in it use one. */
let sharedCluster: Promise<RedisClusterUnderTest> | undefined;
if (typeof afterAll === 'function') {
  afterAll(async () => {
    const cluster = sharedCluster;
    sharedCluster = undefined;
    await (await cluster?.catch(() => undefined))?.stop();
  }, 30_000);
}

/**
 * Relay nodes on a real local Redis Cluster (three primaries, a replica each), started once per
 * test file, as it takes seconds; every env() gets a fresh key prefix on it. Three nodes behind
 * the balancer, or one for the single-node suites.
 */
export function redisShardedBackend(options: { nodes: 1 | 3 } = { nodes: 3 }): BackendUnderTest {
  return {
    name: 'redis-cluster',
    async env() {
      sharedCluster ??= startRedisCluster();
      // a start that failed is tried again by the next suite, not handed to it
      const cluster = await sharedCluster.catch((err: unknown) => {
        sharedCluster = undefined;
        throw err;
      });
      return {
        REDIS_CLUSTER_URLS: cluster.seeds,
        RELAY_REDIS_PREFIX: `${cluster.prefix}-${randomBytes(3).toString('hex')}`,
        ...(options.nodes === 3 ? { RELAY_TEST_NODES: '3' } : {}),
      };
    },
    // the cluster outlives each suite: the file's last hook stops it
    teardown: async () => {},
  };
}

/**
 * Whether the calling test file is part of the conformance suite (`test/conformance/`), read
 * from jest's state as the file's suites are declared.
 */
function inConformanceSuite(): boolean {
  const testPath = typeof expect === 'function' ? expect.getState().testPath : undefined;
  return /[\\/]test[\\/]conformance[\\/]/.test(testPath ?? '');
}

/**
 * Every backend, or those RELAY_TEST_BACKENDS names. `singleNode` leaves out the balanced
 * cluster, for suites about one process (its metrics, its signals, its memory); on the Redis
 * Cluster such a suite gets one node. A plain run puts the conformance suite on every backend,
 * the Redis Cluster included (the promise is the same guarantees on it); other suites that take
 * their backends from here (SDK, seeds) leave the Redis Cluster out of a plain run, as it costs
 * a cluster start per file; naming `redis-cluster` in RELAY_TEST_BACKENDS runs any suite on it.
 */
export function backendsUnderTest(options: { singleNode?: boolean } = {}): BackendUnderTest[] {
  const only = process.env.RELAY_TEST_BACKENDS?.split(',').map((s) => s.trim());
  const all = [
    memoryBackend,
    redisBackend(),
    ...(options.singleNode ? [] : [redisClusterBackend()]),
    redisShardedBackend({ nodes: options.singleNode ? 1 : 3 }),
  ];
  // A run narrowed to the cluster still runs the single-node suites, on one Redis node.
  const wanted = (name: string) => {
    if (!only) return name !== 'redis-cluster' || inConformanceSuite();
    return only.includes(name) || (options.singleNode === true && name === 'redis' && only.includes('redis-3-nodes'));
  };
  return all.filter((b) => wanted(b.name));
}
