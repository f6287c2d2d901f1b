import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { defineScripts } from '../../packages/gateway/src/backends/redis/scripts';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { deliveryQueueContract } from './delivery-queue.contract';

let redis: RedisUnderTest;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await redis.stop();
});

deliveryQueueContract('redis', async () => {
  const client = new Redis(redis.url);
  clients.push(client);
  // a fresh prefix per test: each starts from an empty queue on the shared server
  const keys = createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`);
  const queue = createRedisDeliveryQueue(defineScripts(client), keys, (agentId) =>
    client.zcard(`${keys.agentBase(agentId)}:waiting`),
  );
  return { queue, teardown: async () => {} };
});

import { createRedisRegistry } from '../../packages/gateway/src/backends/redis/registry';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { queueEventsContract, registryContract, timelineContract } from './registry.contract';

/** A client and fresh keys on the file's server: each test starts from an empty relay. */
function fresh() {
  const client = new Redis(redis.url);
  clients.push(client);
  return { client, run: defineScripts(client), keys: createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`) };
}

registryContract('redis', async (seed) => {
  const { client, run, keys } = fresh();
  const registry = createRedisRegistry(client, run, keys);
  await registry.seed(seed, 'replace');
  return { registry, teardown: async () => {} };
});
timelineContract('redis', async () => {
  const { client, run, keys } = fresh();
  return { events: createRedisEventStore(client, run, keys), teardown: async () => {} };
});
queueEventsContract('redis', async () => {
  const { client, run, keys } = fresh();
  return { queue: createRedisDeliveryQueue(run, keys, (agentId) => client.zcard(`${keys.agentBase(agentId)}:waiting`)), teardown: async () => {} };
});

import { eventStoreContract } from './event-store.contract';

eventStoreContract('redis', async () => {
  const { client, run, keys } = fresh();
  return {
    events: createRedisEventStore(client, run, keys, { finishedRetentionMs: 50 }),
    finishedRetentionMs: 50,
    later: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    teardown: async () => {},
  };
});

import { ALIVE_CACHE_MS, createRedisPresence } from '../../packages/gateway/src/backends/redis/presence';
import { presenceContract } from './presence.contract';

presenceContract(
  'redis',
  async () => {
    const { client, run, keys } = fresh();
    // Each peer is another node: its own connection and its own cache of who is alive.
    const peer = () => {
      const other = new Redis(redis.url);
      clients.push(other);
      return createRedisPresence(other, defineScripts(other), keys);
    };
    return { presence: createRedisPresence(client, run, keys), peer, aliveCacheMs: ALIVE_CACHE_MS, teardown: async () => {} };
  },
  { shared: true },
);

import { createRedisRateLimiter } from '../../packages/gateway/src/backends/redis/rate-limiter';
import { rateLimiterContract } from './rate-limiter.contract';

rateLimiterContract('redis', async () => {
  const { keys } = fresh();
  const limiter = () => createRedisRateLimiter(fresh().run, keys, 60_000);
  return { limiter: limiter(), windowMs: 60_000, peer: limiter, teardown: async () => {} };
});

import { createRedisOutbox } from '../../packages/gateway/src/backends/redis/outbox';
import { outboxContract, type OutboxUnderTest } from './outbox.contract';

outboxContract('redis', async () => {
  const { keys } = fresh();
  const drops: OutboxUnderTest['drops'] = [];
  const outbox = () => createRedisOutbox(fresh().run, keys, 40, (appId, eventId, reason) => drops.push({ appId, eventId, reason }));
  return { outbox: outbox(), maxPerApp: 40, drops, peer: outbox, teardown: async () => {} };
});

import { createRedisBus } from '../../packages/gateway/src/backends/redis/bus';
import type { Bus } from '../../packages/gateway/src/ports';
import { busContract } from './bus.contract';

busContract('redis', async () => {
  const { keys } = fresh();
  const buses: Bus[] = [];
  const bus = () => {
    const subscriber = new Redis(redis.url);
    clients.push(subscriber);
    const made = createRedisBus(fresh().client, subscriber, keys, (err) => {
      throw err;
    });
    buses.push(made);
    return made;
  };
  return { bus: bus(), peer: bus, teardown: async () => void (await Promise.all(buses.map((b) => b.close()))) };
});

import { createRedisScheduler } from '../../packages/gateway/src/backends/redis/scheduler';
import type { Scheduler, Task } from '../../packages/gateway/src/ports';
import { schedulerContract } from './scheduler.contract';

schedulerContract(
  'redis',
  async () => {
    const { keys } = fresh();
    const failed: Task[] = [];
    const made: Scheduler[] = [];
    const scheduler = () => {
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      clients.push(connection);
      const s = createRedisScheduler(connection, keys.bullPrefix, (_err, task) => {
        if (task) failed.push(task);
      });
      made.push(s);
      return s;
    };
    return { scheduler: scheduler(), failed, peer: scheduler, teardown: async () => void (await Promise.all(made.map((s) => s.close()))) };
  },
  { shared: true },
);
