import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import { DEFAULT_ACTIVITY, DEFAULT_TOKEN_STREAMS, OUTBOX_PER_APP, type ActivityStoreOptions, type Backend, type OutboxDropReason, type RegistryData, type Task, type TokenStreamOptions } from '../../ports';
import { createRedisActivityStore } from './activity';
import { createRedisBus } from './bus';
import { connectRedis, describeTarget, openBusSubscriber, runsInSendOrder, type RedisTarget } from './connect';
import { createRedisDeliveryQueue } from './delivery-queue';
import { createRedisEventStore } from './event-store';
import { createKeys } from './keys';
import { createRedisOutbox } from './outbox';
import { createRedisPresence } from './presence';
import { createRedisRegistry } from './registry';
import { createRedisScheduler, schedulerPrefixes } from './scheduler';
import { createRedisTokenStreams } from './token-stream';
import { createRedisWebhookLog } from './webhook-log';
import { createRedisMetrics, timeCommands } from './metrics';
import { createReplicaWait } from './replicas';
import { scriptRunner, scriptNamesByFirstArg } from './scripts';

/** How long `accepted` waits for RELAY_REDIS_MIN_REPLICAS replicas before it is RELAY_UNAVAILABLE. */
const REPLICA_WAIT_MS = 1_000;

export interface RedisBackendOptions {
  /** One primary (REDIS_URL) or a Redis Cluster's seed nodes (REDIS_CLUSTER_URLS). */
  target: RedisTarget;
  /** Replicas that must hold an accepted event or a recorded final before the node says so (WAIT). */
  minReplicas?: number;
  /** Prefix of every key, so several relays (or test runs) can share one Redis. */
  prefix: string;
  registry: RegistryData;
  /**
   * file: `registry` replaces the registry in Redis at every start (the file is the whole truth);
   * admin: it seeds a registry never written before, after which the admin API owns it.
   */
  registryMode: 'file' | 'admin';
  rateWindowMs: number;
  /** How long a finished event's record is kept (RELAY_FINISHED_RETENTION_MS). */
  finishedRetentionMs: number;
  outboxPerApp?: number;
  log: Logger;
  /** Where relay_redis_up, relay_redis_command_duration_seconds and relay_stored_final_bytes are registered. */
  metrics?: MetricsRegistry;
  onOutboxDrop?: (appId: string, eventId: string, reason: OutboxDropReason) => void;
  onTaskError?: (err: unknown, task?: Task) => void;
  /** Bounds of the Dashboard's activity (default: a day, 1,000 events). */
  activity?: ActivityStoreOptions;
  /** Retention and cap of recorded token streams (default: 10 min, 20,000 tokens an attempt). */
  streams?: TokenStreamOptions;
}

/**
 * Every port on one Redis primary or on a Redis Cluster, with the same code and guarantees (use
 * AOF with `appendfsync always`, or replicas and `minReplicas`, for the durability that
 * `accepted` promises). Needs Redis 7 (sharded pub/sub). Start-up never waits for Redis: until it
 * answers, the node is not ready, upgrades get 503 and nothing is accepted; ioredis reconnects
 * on its own.
 */
export function createRedisBackend(options: RedisBackendOptions): Backend {
  const { log, target } = options;
  const where = describeTarget(target);
  const keys = createKeys(options.prefix);
  const retryStrategy = (attempt: number) => Math.min(200 * attempt, 2_000);
  // Commands fail at once while disconnected: an event must get RELAY_UNAVAILABLE, not wait.
  const client = connectRedis(target, {
    enableOfflineQueue: false,
    batchWrites: true,
    maxRetriesPerRequest: 1,
    retryStrategy,
  });
  const bullConnection = connectRedis(target, { maxRetriesPerRequest: null, retryStrategy });
  const replicated = createReplicaWait(client, options.minReplicas ?? 0, REPLICA_WAIT_MS);

  let lastComplaint = 0;
  const complain = (which: string) => (err: Error) => {
    if (Date.now() - lastComplaint < 5_000) return;
    lastComplaint = Date.now();
    log.warn({ redis: where, connection: which, err: err.message }, 'redis unavailable; retrying');
  };
  client.on('error', complain('commands'));
  bullConnection.on('error', complain('queue'));

  const openSubscriber = (channel: string) => openBusSubscriber(target, client, channel, { retryStrategy }).on('error', complain('subscriber'));
  const bus = createRedisBus(client, openSubscriber, keys, (err) => log.warn({ err }, 'bus publish or subscribe failed'));
  const metrics = options.metrics && createRedisMetrics(options.metrics, () => client.status === 'ready' && bus.listening());
  if (metrics) timeCommands(client, metrics.commandDuration, scriptNamesByFirstArg());
  const run = scriptRunner(client);
  const registry = createRedisRegistry(client, run, keys);
  let seeded = false;
  client.on('ready', () => {
    registry.seed(options.registry, options.registryMode === 'file' ? 'replace' : 'if-empty').then(
      (written) => {
        seeded = true;
        log.info(
          { redis: where, prefix: options.prefix, registry_mode: options.registryMode, registry_seeded: written },
          'redis ready',
        );
      },
      (err: Error) => log.error({ err }, 'seeding the registry failed'),
    );
  });

  const scheduler = createRedisScheduler(bullConnection, client, run, keys, (err, task) => options.onTaskError?.(err, task));
  const streamOptions = options.streams ?? DEFAULT_TOKEN_STREAMS;
  const onePrimary = runsInSendOrder(client);
  const events = createRedisEventStore(client, run, keys, {
    finishedRetentionMs: options.finishedRetentionMs,
    rateWindowMs: options.rateWindowMs,
    onFinalStored: metrics && ((bytes) => metrics.storedFinalBytes.observe(bytes)),
    replicated,
    // finishAndRemove's, on one primary: its one expiry lane
    ...(onePrimary ? { ending: { expiries: keys.expiries(schedulerPrefixes(keys, false)[0] as string), streamRetentionMs: streamOptions.retentionMs } } : {}),
  });
  // Where the event's end names a first attempt (finishAndRemove), its delivery need not.
  const streams = createRedisTokenStreams(client, keys, streamOptions, events.finishAndRemove !== undefined);
  return {
    name: 'redis',
    runsInCallOrder: onePrimary,
    registry,
    presence: createRedisPresence(client, run, keys),
    events,
    ...(events.finishAndRemove ? { finishAndRemove: events.finishAndRemove } : {}),
    queue: createRedisDeliveryQueue(client, run, keys, { replicated }),
    outbox: createRedisOutbox(run, keys, options.outboxPerApp ?? OUTBOX_PER_APP, options.onOutboxDrop ?? (() => {})),
    scheduler,
    bus,
    streams,
    activity: createRedisActivityStore(client, run, keys, options.activity ?? DEFAULT_ACTIVITY),
    webhooks: createRedisWebhookLog(client, keys),
    ready: () => seeded && client.status === 'ready' && bus.listening(),
    async close() {
      await bus.close();
      streams.close();
      await scheduler.close();
      await Promise.allSettled([client.quit(), bullConnection.quit()]);
    },
  };
}
