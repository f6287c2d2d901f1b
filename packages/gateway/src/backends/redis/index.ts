import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import { DEFAULT_ACTIVITY, DEFAULT_TOKEN_STREAMS, OUTBOX_PER_APP, type ActivityStoreOptions, type Backend, type OutboxDropReason, type RegistryData, type Task, type TokenStreamOptions } from '../../ports';
import { createRedisActivityStore } from './activity';
import { createRedisBus } from './bus';
import { createRedisDeliveryQueue } from './delivery-queue';
import { createRedisEventStore } from './event-store';
import { createKeys } from './keys';
import { createRedisOutbox } from './outbox';
import { createRedisPresence } from './presence';
import { createRedisRateLimiter } from './rate-limiter';
import { createRedisRegistry } from './registry';
import { createRedisScheduler } from './scheduler';
import { createRedisTokenStreams } from './token-stream';
import { createRedisMetrics, timeCommands } from './metrics';
import { defineScripts, scriptNamesBySha } from './scripts';

export interface RedisBackendOptions {
  url: string;
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
 * Every port on one Redis primary (use AOF with `appendfsync always` for the durability that
 * `accepted` promises). Needs Redis 6.2+. Multi-key scripts assume a single primary, not Redis
 * Cluster. Start-up never waits for Redis: until it answers, the node is not ready, upgrades get
 * 503 and nothing is accepted; ioredis reconnects on its own.
 */
export function createRedisBackend(options: RedisBackendOptions): Backend {
  const { log } = options;
  const keys = createKeys(options.prefix);
  const retryStrategy = (attempt: number) => Math.min(200 * attempt, 2_000);
  // Commands fail at once while disconnected: an event must get RELAY_UNAVAILABLE, not wait.
  const client = new Redis(options.url, {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    retryStrategy,
  });
  const subscriber = new Redis(options.url, { retryStrategy });
  const bullConnection = new Redis(options.url, { maxRetriesPerRequest: null, retryStrategy });

  let lastComplaint = 0;
  const complain = (which: string) => (err: Error) => {
    if (Date.now() - lastComplaint < 5_000) return;
    lastComplaint = Date.now();
    log.warn({ redis: redactUrl(options.url), connection: which, err: err.message }, 'redis unavailable; retrying');
  };
  client.on('error', complain('commands'));
  subscriber.on('error', complain('subscriber'));
  bullConnection.on('error', complain('queue'));

  const metrics = options.metrics && createRedisMetrics(options.metrics, () => client.status === 'ready' && subscriber.status === 'ready');
  if (metrics) timeCommands(client, metrics.commandDuration, scriptNamesBySha());
  const run = defineScripts(client);
  const registry = createRedisRegistry(client, run, keys);
  let seeded = false;
  client.on('ready', () => {
    registry.seed(options.registry, options.registryMode === 'file' ? 'replace' : 'if-empty').then(
      (written) => {
        seeded = true;
        log.info(
          { redis: redactUrl(options.url), prefix: options.prefix, registry_mode: options.registryMode, registry_seeded: written },
          'redis ready',
        );
      },
      (err: Error) => log.error({ err }, 'seeding the registry failed'),
    );
  });

  const scheduler = createRedisScheduler(bullConnection, keys.bullPrefix, (err, task) => options.onTaskError?.(err, task));
  const bus = createRedisBus(client, subscriber, keys, (err) => log.warn({ err }, 'bus publish failed'));
  const streams = createRedisTokenStreams(client, keys, options.streams ?? DEFAULT_TOKEN_STREAMS);
  return {
    name: 'redis',
    registry,
    presence: createRedisPresence(client, run, keys),
    events: createRedisEventStore(client, run, keys, {
      finishedRetentionMs: options.finishedRetentionMs,
      onFinalStored: metrics && ((bytes) => metrics.storedFinalBytes.observe(bytes)),
    }),
    queue: createRedisDeliveryQueue(client, run, keys),
    outbox: createRedisOutbox(run, keys, options.outboxPerApp ?? OUTBOX_PER_APP, options.onOutboxDrop ?? (() => {})),
    rateLimiter: createRedisRateLimiter(run, keys, options.rateWindowMs),
    scheduler,
    bus,
    streams,
    activity: createRedisActivityStore(client, keys, options.activity ?? DEFAULT_ACTIVITY),
    ready: () => seeded && client.status === 'ready' && subscriber.status === 'ready',
    async close() {
      await bus.close();
      streams.close();
      await scheduler.close();
      await Promise.allSettled([client.quit(), subscriber.quit(), bullConnection.quit()]);
    },
  };
}

/** A Redis URL without its password, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}
