import { DEFAULT_ACTIVITY, DEFAULT_TOKEN_STREAMS, OUTBOX_PER_APP, type ActivityStoreOptions, type Backend, type OutboxDropReason, type RegistryData, type TokenStreamOptions } from '../../ports';
import { createMemoryActivityStore } from './activity';
import { createMemoryBus } from './bus';
import { createMemoryDeliveryQueue } from './delivery-queue';
import { createMemoryEventStore } from './event-store';
import { createMemoryOutbox } from './outbox';
import { createMemoryPresence } from './presence';
import { createMemoryRegistry } from './registry';
import { createMemoryScheduler } from './scheduler';
import { createMemoryTokenStreams } from './token-stream';
import { createMemoryWebhookLog } from './webhook-log';

export interface MemoryBackendOptions {
  registry: RegistryData;
  rateWindowMs: number;
  /** How long a finished event's record is kept (RELAY_FINISHED_RETENTION_MS). */
  finishedRetentionMs: number;
  /** Final frames held per app at most, waiting for its next connection. */
  outboxPerApp?: number;
  onOutboxDrop?: (appId: string, eventId: string, reason: OutboxDropReason) => void;
  onTaskError?: (err: unknown) => void;
  /** Bounds of the Dashboard's activity (default: a day, 1,000 events). */
  activity?: ActivityStoreOptions;
  /** Retention and cap of recorded token streams (default: 10 min, 20,000 tokens an attempt). */
  streams?: TokenStreamOptions;
}

/** Every port in this process: one node, no dependencies, nothing survives a restart. */
export function createMemoryBackend(options: MemoryBackendOptions): Backend {
  const { finishedRetentionMs } = options;
  const events = createMemoryEventStore({ finishedRetentionMs, rateWindowMs: options.rateWindowMs });
  // Often enough that a finished record outlives its retention by at most as much again.
  const streams = createMemoryTokenStreams(options.streams ?? DEFAULT_TOKEN_STREAMS);
  const sweeper = setInterval(() => {
    events.sweep(Date.now());
    streams.sweep(Date.now());
  }, Math.min(10_000, Math.max(100, finishedRetentionMs)));
  sweeper.unref();
  const scheduler = createMemoryScheduler((err) => options.onTaskError?.(err));
  const bus = createMemoryBus();
  const queue = createMemoryDeliveryQueue();
  return {
    name: 'memory',
    runsInCallOrder: true,
    registry: createMemoryRegistry(options.registry),
    presence: createMemoryPresence(),
    events,
    queue,
    // In call order, as every step here is: the finish and what ending it settles, then the removal.
    async finishAndRemove(eventId, agentId, final, now) {
      const finished = events.finish(eventId, final, now).then(async (event) => {
        if (event) {
          await scheduler.cancel({ kind: 'expire', agentId, eventId });
          streams.ended(eventId, agentId);
        }
        return event;
      });
      finished.catch(() => {}); // the caller's
      return { removed: await queue.remove(agentId, eventId, false), finished };
    },
    outbox: createMemoryOutbox(options.outboxPerApp ?? OUTBOX_PER_APP, options.onOutboxDrop ?? (() => {})),
    scheduler,
    bus,
    streams,
    activity: createMemoryActivityStore(options.activity ?? DEFAULT_ACTIVITY),
    webhooks: createMemoryWebhookLog(),
    ready: () => true,
    async close() {
      clearInterval(sweeper);
      await scheduler.close();
      await bus.close();
    },
  };
}
