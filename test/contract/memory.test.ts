import { createMemoryActivityStore } from '../../packages/gateway/src/backends/memory/activity';
import { createMemoryBus } from '../../packages/gateway/src/backends/memory/bus';
import { createMemoryDeliveryQueue } from '../../packages/gateway/src/backends/memory/delivery-queue';
import { createMemoryEventStore } from '../../packages/gateway/src/backends/memory/event-store';
import { createMemoryOutbox } from '../../packages/gateway/src/backends/memory/outbox';
import { createMemoryPresence } from '../../packages/gateway/src/backends/memory/presence';
import { createMemoryRateLimiter } from '../../packages/gateway/src/backends/memory/rate-limiter';
import { createMemoryRegistry } from '../../packages/gateway/src/backends/memory/registry';
import { createMemoryScheduler } from '../../packages/gateway/src/backends/memory/scheduler';
import { createMemoryTokenStreams } from '../../packages/gateway/src/backends/memory/token-stream';
import { createMemoryWebhookLog } from '../../packages/gateway/src/backends/memory/webhook-log';
import type { Task } from '../../packages/gateway/src/ports';
import { activityStoreContract } from './activity.contract';
import { busContract } from './bus.contract';
import { deliveryQueueContract } from './delivery-queue.contract';
import { eventStoreContract } from './event-store.contract';
import { outboxContract, type OutboxUnderTest } from './outbox.contract';
import { presenceContract } from './presence.contract';
import { queueEventsContract, registryContract, timelineContract } from './registry.contract';
import { rateLimiterContract } from './rate-limiter.contract';
import { schedulerContract } from './scheduler.contract';
import { tokenStreamContract } from './token-stream.contract';
import { webhookLogContract } from './webhook-log.contract';

deliveryQueueContract('memory', async () => ({ queue: createMemoryDeliveryQueue(), teardown: async () => {} }));

registryContract('memory', async (seed) => ({ registry: createMemoryRegistry(seed), teardown: async () => {} }));
timelineContract('memory', async () => ({ events: createMemoryEventStore({ finishedRetentionMs: 60_000 }), teardown: async () => {} }));
queueEventsContract('memory', async () => ({ queue: createMemoryDeliveryQueue(), teardown: async () => {} }));

eventStoreContract('memory', async () => {
  const events = createMemoryEventStore({ finishedRetentionMs: 50 });
  return {
    events,
    finishedRetentionMs: 50,
    later: async (ms) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      events.sweep(Date.now());
    },
    teardown: async () => {},
  };
});

presenceContract('memory', async () => ({ presence: createMemoryPresence(), aliveCacheMs: 0, teardown: async () => {} }), { shared: false });

rateLimiterContract('memory', async () => ({ limiter: createMemoryRateLimiter(60_000), windowMs: 60_000, teardown: async () => {} }));

outboxContract('memory', async () => {
  const drops: OutboxUnderTest['drops'] = [];
  const outbox = createMemoryOutbox(600, (appId, eventId, reason) => drops.push({ appId, eventId, reason }));
  return { outbox, maxPerApp: 600, drops, teardown: async () => {} };
});

busContract('memory', async () => {
  const bus = createMemoryBus();
  return { bus, teardown: () => bus.close() };
});

schedulerContract(
  'memory',
  async () => {
    const failed: Task[] = [];
    const scheduler = createMemoryScheduler((_err, task) => failed.push(task));
    return { scheduler, failed, teardown: () => scheduler.close() };
  },
  { shared: false },
);

activityStoreContract('memory', async (options) => ({ store: createMemoryActivityStore(options), teardown: async () => {} }));

tokenStreamContract('memory', async () => {
  const made: Array<ReturnType<typeof createMemoryTokenStreams>> = [];
  return {
    streams: (options) => {
      const s = createMemoryTokenStreams(options);
      made.push(s);
      return s;
    },
    later: async (ms) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      for (const s of made) s.sweep(Date.now());
    },
    teardown: async () => {},
  };
});

webhookLogContract('memory', async () => createMemoryWebhookLog());
