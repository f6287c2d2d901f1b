import { randomBytes } from 'node:crypto';
import { TestClient, type ConnectOptions, type Frame } from './client';
import { startRedis, type RedisUnderTest } from './redis-server';
import { startRelay, type RelayProcess } from './relay-process';
import { roleOf, testRegistry, type Principal, type RegistryOverrides, type Tokens } from './registry';

// Helpers for the cluster suites: several real gateway processes sharing one real redis-server,
// all seeded from the same registry and writing under the same key prefix, so they act as one
// relay. A test talks to a node by its number (1-based, as the tests describe them).

export interface ClusterOptions {
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
 * Starts `size` nodes on this Redis under a fresh key prefix, so each cluster starts from an
 * empty relay while the test file keeps one redis-server.
 */
export async function startCluster(redis: RedisUnderTest, options: ClusterOptions = {}): Promise<Cluster> {
  const { registry, tokens } = testRegistry(options.registry);
  const env = {
    REDIS_URL: redis.url,
    RELAY_REDIS_PREFIX: `${redis.prefix}-${randomBytes(3).toString('hex')}`,
    ...options.env,
  };
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
    prefix: env.RELAY_REDIS_PREFIX,
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

/** A redis-server for one test file, stopped after its last test. */
export function fileRedis(): { readonly redis: RedisUnderTest } {
  let redis: RedisUnderTest | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return {
    get redis() {
      if (!redis) throw new Error('redis not started');
      return redis;
    },
  };
}

/**
 * A cluster per test on the file's redis-server (see `startCluster`), stopped after each test
 * even when the test failed.
 */
export function clusterPerTest(options: ClusterOptions = {}): { readonly cluster: Cluster; readonly redis: RedisUnderTest } {
  const file = fileRedis();
  let cluster: Cluster | undefined;
  beforeEach(async () => {
    cluster = await startCluster(file.redis, options);
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
    get redis() {
      return file.redis;
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
