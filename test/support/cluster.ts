import { randomBytes } from 'node:crypto';
import { connectRedis, type ConnectOptions as RedisConnectOptions, type RedisClient } from '../../packages/gateway/src/backends/redis/connect';
import { redisBackend, redisShardedBackend, type BackendUnderTest } from './backends';
import { TestClient, type ConnectOptions, type Frame } from './client';
import { startRelay, type RelayProcess } from './relay-process';
import { roleOf, testRegistry, type Principal, type RegistryOverrides, type Tokens } from './registry';

// Helpers for the cluster suites: several real gateway processes sharing one store (a real
// redis-server, or a real local Redis Cluster), all seeded from the same registry and writing
// under the same key prefix, so they act as one relay. A test talks to a node by its number
// (1-based, as the tests describe them).

/**
 * The stores the cluster suites run on: one redis-server and a local Redis Cluster (three
 * primaries, a replica each), each started once per test file. RELAY_TEST_BACKENDS narrows the
 * list as it does for conformance (`redis` or `redis-3-nodes`, `redis-cluster`); a list naming
 * neither keeps the redis-server, since these suites need Redis.
 */
export function storesUnderTest(): BackendUnderTest[] {
  const only = process.env.RELAY_TEST_BACKENDS?.split(',').map((s) => s.trim());
  const onServer = !only || only.includes('redis') || only.includes('redis-3-nodes') || !only.includes('redis-cluster');
  const onCluster = !only || only.includes('redis-cluster');
  return [...(onServer ? [redisBackend()] : []), ...(onCluster ? [redisShardedBackend({ nodes: 1 })] : [])];
}

/** `describe`s the suite once per store (see storesUnderTest), the store's name in its title. */
export function describeOnStores(title: string, suite: (store: BackendUnderTest) => void): void {
  describe.each(storesUnderTest())(`${title} ($name)`, (store) => {
    afterAll(() => store.teardown(), 30_000);
    suite(store);
  });
}

export interface ClusterOptions {
  /** Where the nodes keep their state (one of storesUnderTest()). */
  store: BackendUnderTest;
  /** How many nodes (at least three for the cluster tests). */
  size?: number;
  registry?: RegistryOverrides;
  /** Extra environment for every node. */
  env?: Record<string, string>;
}

export interface Cluster {
  readonly nodes: RelayProcess[];
  /** The Redis key prefix every node of this cluster writes under (RELAY_REDIS_PREFIX). */
  readonly prefix: string;
  /** A new connection to the cluster's store (one primary or the Redis Cluster); the caller quits it. */
  redis(options?: RedisConnectOptions): RedisClient;
  readonly tokens: Tokens;
  /** Node `n` (1-based). */
  node(n: number): RelayProcess;
  /** Opens a client on node `n` as one of the test registry's apps or agents; closed by `stop()`. */
  connect(n: number, principal: Principal, options?: ConnectOptions): Promise<TestClient>;
  /** Every client opened so far (for schema checks). */
  readonly clients: TestClient[];
  /**
   * Closes every client, fails if any of them got a frame outside the schema, and stops every
   * node still running; each must exit 0 (a graceful drain), except those the test killed.
   */
  stop(): Promise<void>;
}

/**
 * Starts `size` nodes on the store under a fresh key prefix, so each cluster starts from an
 * empty relay while the test file keeps one store.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { registry, tokens } = testRegistry(options.registry);
  const storeEnv = await options.store.env();
  const env = { ...storeEnv, ...options.env };
  const prefix = storeEnv.RELAY_REDIS_PREFIX;
  if (!prefix) throw new Error(`store ${options.store.name} gave no RELAY_REDIS_PREFIX`);
  const size = options.size ?? 3;
  const started = await Promise.allSettled(Array.from({ length: size }, () => startRelay({ registry, env })));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    throw failed.reason;
  }
  const clients: TestClient[] = [];
  const node = (n: number): RelayProcess => {
    const found = nodes[n - 1];
    if (!found) throw new Error(`no node ${n} in a cluster of ${nodes.length}`);
    return found;
  };
  return {
    nodes,
    prefix,
    redis: (redisOptions) =>
      connectRedis(env.REDIS_CLUSTER_URLS ? { clusterUrls: env.REDIS_CLUSTER_URLS.split(',') } : { url: env.REDIS_URL ?? '' }, redisOptions),
    tokens,
    node,
    clients,
    async connect(n, principal, connectOptions) {
      const client = await TestClient.connect(node(n).url, roleOf(principal), tokens[principal], connectOptions);
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      const invalid = clients.flatMap((c) => c.invalid);
      const killed = nodes.filter((n) => n.proc.signalCode === 'SIGKILL');
      const codes = await Promise.all(nodes.filter((n) => !killed.includes(n)).map((n) => n.stop()));
      expect(invalid).toEqual([]);
      expect(codes.every((c) => c === 0)).toBe(true);
    },
  };
}

/**
 * A cluster per test on the suite's store (see `startCluster`), stopped after each test even
 * when the test failed. Call it inside `describeOnStores`, which tears the store down.
 */
export function clusterPerTest(options: ClusterOptions): { readonly cluster: Cluster } {
  let cluster: Cluster | undefined;
  beforeEach(async () => {
    cluster = await startCluster(options);
  });
  afterEach(async () => {
    const running = cluster;
    cluster = undefined;
    await running?.stop();
  });
  return {
    get cluster() {
      if (!cluster) throw new Error('cluster not started');
      return cluster;
    },
  };
}

/** Asks for `discover` and returns each agent's status by id. */
export async function discoverStatus(app: TestClient): Promise<Record<string, string>> {
  const ref = `discover-${randomBytes(4).toString('hex')}`;
  app.send({ type: 'discover', ref });
  const answer = await app.next((f) => f.type === 'agents' && f.ref === ref);
  return Object.fromEntries((answer.agents as Frame[]).map((a) => [a.id as string, a.status as string]));
}

/** Polls `discover` until the agent has this status (presence spreads through Redis). */
export async function waitForStatus(app: TestClient, agentId: string, status: 'online' | 'offline', timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = (await discoverStatus(app))[agentId];
    if (seen === status) return;
    if (Date.now() > deadline) throw new Error(`${agentId} still ${seen} after ${timeoutMs} ms, wanted ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves once `done()` holds, polling; fails after `timeoutMs`. */
export async function waitFor(what: string, done: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Opening a socket does not wait for its presence entry: `opened` writes it on the connection's
 * frame chain. A frame sent now is answered only after that, so once `discover` is answered the
 * whole cluster sees the connection (used before counting connections cluster-wide).
 */
export async function registered(app: TestClient): Promise<void> {
  await discoverStatus(app);
}
