import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** One Redis primary or a Redis Cluster: every port takes either, the commands are the same. */
export type RedisClient = Redis | Cluster;

/** Where the store is: one primary (REDIS_URL) or the seed nodes of a cluster (REDIS_CLUSTER_URLS). */
export type RedisTarget = { url: string } | { clusterUrls: string[] };

export interface ConnectOptions {
  /** false: a command fails at once while disconnected (an event gets RELAY_UNAVAILABLE, not a wait). */
  enableOfflineQueue?: boolean;
  enableAutoPipelining?: boolean;
  /** null for BullMQ, whose workers block on their connection. */
  maxRetriesPerRequest?: number | null;
  /** null: do not reconnect (a test that takes the connection down and up itself). */
  retryStrategy?: (attempt: number) => number | null;
  lazyConnect?: boolean;
  /** A connection for the bus's SSUBSCRIBE: on a cluster, one subscriber per shard. */
  subscriber?: boolean;
}

/**
 * Opens a connection to the target. On a cluster, TLS and credentials come from the first seed
 * URL (every node of a cluster shares them); ioredis learns the other nodes from the seeds.
 */
export function connectRedis(target: RedisTarget, options: ConnectOptions = {}): RedisClient {
  const { subscriber, retryStrategy, enableOfflineQueue, ...rest } = options;
  if ('url' in target) return new Redis(target.url, { ...rest, retryStrategy, ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }) });
  const seeds = target.clusterUrls.map((url) => new URL(url));
  const first = seeds[0];
  if (!first) throw new Error('a Redis Cluster needs at least one seed URL');
  const redisOptions: RedisOptions = {
    ...(rest.maxRetriesPerRequest !== undefined ? { maxRetriesPerRequest: rest.maxRetriesPerRequest } : {}),
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const cluster = new Cluster(
    seeds.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    {
      redisOptions,
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      ...(rest.enableAutoPipelining ? { enableAutoPipelining: true } : {}),
      ...(rest.lazyConnect !== undefined ? { lazyConnect: rest.lazyConnect } : {}),
      ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
      // A primary that died is replaced by its replica: ask for the slots again soon after.
      slotsRefreshInterval: 1_000,
      ...(subscriber ? { shardedSubscribers: true } : {}),
    },
  );
  stopRefreshingOnceEnded(cluster);
  return cluster;
}

/**
 * ioredis 5.11 re-arms its slots-refresh timer from the end of a refresh that was under way when
 * disconnect() ran, so a closed cluster client went on refreshing, and kept its process alive,
 * for ever. A refresh that ends after the client has ended no longer schedules the next one.
 */
function stopRefreshingOnceEnded(cluster: Cluster): void {
  // And a client that was never ended (or ends while connecting) must not keep its process
  // alive by that timer alone: the timer is unref'd whenever ioredis sets it.
  let timer: NodeJS.Timeout | null = null;
  Object.defineProperty(cluster, 'slotsTimer', {
    configurable: true,
    get: () => timer,
    set: (value: NodeJS.Timeout | null) => {
      timer = value;
      timer?.unref();
    },
  });
  const refresh = cluster.refreshSlotsCache.bind(cluster);
  cluster.refreshSlotsCache = (callback) =>
    refresh((err) => {
      if (cluster.status !== 'end') callback?.(err);
    });
}

/** Where the target is, without passwords, for logs. */
export function describeTarget(target: RedisTarget): string {
  return 'url' in target ? redactUrl(target.url) : target.clusterUrls.map(redactUrl).join(',');
}

/** A Redis URL without its password, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}
