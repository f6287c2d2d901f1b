import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { keySlot } from './slot';
import { afterTurnEnd } from '../../turn-end';
import './command-args'; // every command ioredis builds from here on, built without args.flat()

/** One Redis primary or a Redis Cluster: every port takes either, the commands are the same. */
export type RedisClient = Redis | Cluster;

/**
 * One primary runs a connection's commands in the order they are sent, whatever keys they touch.
 * A cluster's commands go to several primaries (and may be redirected), so only commands on one
 * hash slot keep their order there.
 */
export function runsInSendOrder(client: RedisClient): boolean {
  return !(client instanceof Cluster);
}

/** Where the store is: one primary (REDIS_URL) or the seed nodes of a cluster (REDIS_CLUSTER_URLS). */
export type RedisTarget = { url: string } | { clusterUrls: string[] };

export interface ConnectOptions {
  /** false: a command fails at once while disconnected (an event gets RELAY_UNAVAILABLE, not a wait). */
  enableOfflineQueue?: boolean;
  /** Commands called in one turn of the event loop leave in one write (see batchWrites). */
  batchWrites?: boolean;
  /** null for BullMQ, whose workers block on their connection. */
  maxRetriesPerRequest?: number | null;
  /** null: do not reconnect (a test that takes the connection down and up itself). */
  retryStrategy?: (attempt: number) => number | null;
  lazyConnect?: boolean;
}

/**
 * Opens a connection to the target. On a cluster, TLS and credentials come from the first seed
 * URL (every node of a cluster shares them); ioredis learns the other nodes from the seeds.
 */
export function connectRedis(target: RedisTarget, options: ConnectOptions = {}): RedisClient {
  const { retryStrategy, enableOfflineQueue, batchWrites: batched, ...rest } = options;
  if ('url' in target) {
    const redis = new Redis(target.url, { ...rest, retryStrategy, ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }) });
    if (batched) batchWrites(redis);
    return redis;
  }
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
      ...(rest.lazyConnect !== undefined ? { lazyConnect: rest.lazyConnect } : {}),
      ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
      // A primary that died is replaced by its replica: ask for the slots again soon after.
      slotsRefreshInterval: 1_000,
    },
  );
  if (batched) {
    // Each node's connection batches its own writes; the seeds' were made in the constructor.
    for (const node of cluster.nodes('all')) batchWrites(node);
    cluster.on('+node', batchWrites);
    batching.add(cluster);
  }
  return cluster;
}

/** Calls `handler` whenever one of the client's connections is made (again): on a cluster, each node's. */
export function onEachConnect(client: RedisClient, handler: () => void): void {
  if (!(client instanceof Cluster)) {
    client.on('ready', handler);
    return;
  }
  for (const node of client.nodes('all')) node.on('ready', handler);
  client.on('+node', (node: Redis) => node.on('ready', handler));
}

/**
 * Connections that batch their writes, and clusters whose every node's connection does: what
 * they are asked in a turn leaves at the turn's end.
 */
const batching = new WeakSet<RedisClient>();

/**
 * A read by id that callers in one turn of the event loop share, on a client that batches its
 * writes: a read of an id already asked for in this turn is not sent again. The shared read
 * leaves at the turn's end, after every caller that shares it began, so each caller sees every
 * write answered before it began, as with a read of its own (one connection runs its commands
 * in the order sent). A write not yet answered is concurrent with the read, as another node's
 * would be: a caller that counts on its own write awaits it first. On a client that sends each
 * command as it is called, every call reads.
 */
export function sharedInTurn<T>(client: RedisClient, read: (id: string) => Promise<T>): (id: string) => Promise<T> {
  if (!batching.has(client)) return read;
  const pending = new Map<string, Promise<T>>();
  return (id) => {
    let reading = pending.get(id);
    if (!reading) {
      if (pending.size === 0) afterTurnEnd(() => pending.clear());
      reading = read(id);
      pending.set(id, reading);
    }
    return reading;
  };
}

/**
 * Commands called in one turn of the event loop leave in one write: the socket is corked at the
 * first and uncorked at the turn's end, after the turn-end work (turn-end.ts: once the poll phase
 * has run every I/O callback that was ready, so the commands of every socket frame and Redis
 * reply read in one turn, and of the batchers, go together), without waiting for the replies to
 * earlier writes.
 * Not ioredis' auto-pipelining, which keeps one batch in flight per connection: each batch
 * waited for the whole of the one before (under AOF `appendfsync always`, for its fsync too), so
 * an accept's steps queued behind other events' steps; and every batch built an ioredis Pipeline,
 * which was most of what the node's garbage collector promoted under load (docs/benchmarks.md).
 * Order is unchanged: commands on one connection still go, and run, in the order they are called.
 */
function batchWrites(redis: Redis): void {
  if (batching.has(redis)) return;
  batching.add(redis);
  const send = redis.sendCommand.bind(redis);
  let corked = false;
  redis.sendCommand = (command, stream) => {
    // `stream` is set for commands of an explicit pipeline, which writes them all at once itself.
    const socket = stream === undefined && redis.status === 'ready' ? redis.stream : undefined;
    if (!corked && socket) {
      corked = true;
      socket.cork();
      afterTurnEnd(() => {
        corked = false;
        socket.uncork();
      });
    }
    return send(command, stream);
  };
}

/**
 * The bus's subscriber for its channel: on one primary a client that reconnects (and subscribes
 * again) on its own; on a cluster connectShardSubscriber, beside `publisher`.
 */
export function openBusSubscriber(target: RedisTarget, publisher: RedisClient, channel: string, options: Pick<ConnectOptions, 'retryStrategy'> = {}): RedisClient {
  if ('url' in target) return connectRedis(target, options);
  return connectShardSubscriber(publisher as Cluster, target.clusterUrls[0] as string, channel);
}

/**
 * The bus's subscriber on a cluster: a plain connection, for SSUBSCRIBE, to the node that
 * `cluster` (the node's publisher) sends the channel's SPUBLISHes to, so the node's own probe
 * checks exactly that pair. It does not reconnect: a node that died or lost the slot may not
 * serve it when back, so the bus makes a new one, found the same way, once this one ends. Not
 * ioredis' own sharded subscribers (`shardedSubscribers`): one cluster client per resubscribe,
 * each learning the slots before it subscribes, took long enough for messages to fall into the
 * change, and where it subscribes is its own view of the slots, not the publisher's.
 */
function connectShardSubscriber(cluster: Cluster, seed: string, channel: string): Redis {
  // Before the cluster client has learnt the slots, a seed: its MOVED makes the bus try again.
  const first = new URL(seed);
  const [host, port] = (cluster.slots[keySlot(channel)]?.[0] ?? `${first.hostname}:${first.port || 6379}`).split(':');
  return new Redis({ ...cluster.options.redisOptions, host, port: Number(port), retryStrategy: () => null });
}

/**
 * ioredis 5.11 re-arms its slots-refresh timer from the end of a refresh that was under way when
 * disconnect() ran, so a closed cluster client went on refreshing, and kept its process alive,
 * for ever. Patched on the prototype, so it holds for every Cluster client, including those
 * BullMQ makes with duplicate(): a refresh that ends after the client has ended no longer
 * schedules the next one, and the timer never keeps a process alive by itself.
 */
function stopRefreshingOnceEnded(): void {
  const proto = Cluster.prototype as unknown as {
    refreshSlotsCache(this: Cluster, callback?: (err?: Error) => void): void;
    relayPatched?: boolean;
  };
  if (proto.relayPatched) return;
  proto.relayPatched = true;
  const timers = new WeakMap<object, NodeJS.Timeout | null>();
  Object.defineProperty(proto, 'slotsTimer', {
    configurable: true,
    get(this: object) {
      return timers.get(this) ?? null;
    },
    set(this: object, value: NodeJS.Timeout | null) {
      timers.set(this, value);
      value?.unref();
    },
  });
  const refresh = proto.refreshSlotsCache;
  proto.refreshSlotsCache = function (this: Cluster, callback) {
    refresh.call(this, (err) => {
      if (this.status !== 'end') callback?.(err);
    });
  };
}
stopRefreshingOnceEnded();

/** Where the target is, without passwords, for logs. */
export function describeTarget(target: RedisTarget): string {
  return 'url' in target ? redactUrl(target.url) : target.clusterUrls.map(redactUrl).join(',');
}

/** A Redis URL without its password, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}
