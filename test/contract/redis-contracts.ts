import { randomBytes } from 'node:crypto';
import { createRedisActivityStore } from '../../packages/gateway/src/backends/redis/activity';
import { createRedisWebhookLog } from '../../packages/gateway/src/backends/redis/webhook-log';
import { createRedisBus } from '../../packages/gateway/src/backends/redis/bus';
import { connectRedis, openBusSubscriber, type ConnectOptions, type RedisClient, type RedisTarget } from '../../packages/gateway/src/backends/redis/connect';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisOutbox } from '../../packages/gateway/src/backends/redis/outbox';
import { ALIVE_CACHE_MS, createRedisPresence } from '../../packages/gateway/src/backends/redis/presence';
import { createRedisRateLimiter } from '../../packages/gateway/src/backends/redis/rate-limiter';
import { createRedisRegistry } from '../../packages/gateway/src/backends/redis/registry';
import { createRedisScheduler } from '../../packages/gateway/src/backends/redis/scheduler';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { createRedisTokenStreams } from '../../packages/gateway/src/backends/redis/token-stream';
import type { Bus, Scheduler, Task } from '../../packages/gateway/src/ports';
import { activityStoreContract } from './activity.contract';
import { busContract } from './bus.contract';
import { deliveryQueueContract } from './delivery-queue.contract';
import { eventStoreContract } from './event-store.contract';
import { outboxContract, type OutboxUnderTest } from './outbox.contract';
import { presenceContract } from './presence.contract';
import { rateLimiterContract } from './rate-limiter.contract';
import { queueEventsContract, registryContract, timelineContract } from './registry.contract';
import { schedulerContract } from './scheduler.contract';
import { tokenStreamContract } from './token-stream.contract';
import { webhookLogContract } from './webhook-log.contract';

/**
 * Every port's contract on the Redis deployment at `target`, each node in a contract on its own
 * connections, as real nodes are. Every test gets fresh keys, so the server
 * need not be empty. Another deployment (Redis Cluster, say) runs them all with one more call.
 */
export function redisContracts(name: string, target: () => RedisTarget) {
  const clients: RedisClient[] = [];
  afterAll(() => {
    // Not one closed already (an outage test's): ioredis would wait 2 s for its socket to close again.
    for (const c of clients) if (c.status !== 'end') c.disconnect();
  });
  const track = (client: RedisClient) => {
    clients.push(client);
    return client;
  };
  // By default as the node's command connection writes (batchWrites).
  const open = (options: ConnectOptions = { batchWrites: true }) => track(connectRedis(target(), options));
  /** A client and fresh keys: each test starts from an empty relay. */
  const fresh = () => {
    const client = open();
    return { client, run: scriptRunner(client), keys: createKeys(`contract-${randomBytes(4).toString('hex')}`) };
  };
  const queueOn = ({ client, run, keys }: ReturnType<typeof fresh>) => createRedisDeliveryQueue(client, run, keys);

  deliveryQueueContract(name, async () => ({ queue: queueOn(fresh()), teardown: async () => {} }));
  queueEventsContract(name, async () => ({ queue: queueOn(fresh()), teardown: async () => {} }));

  registryContract(name, async (seed) => {
    const { client, run, keys } = fresh();
    const registry = createRedisRegistry(client, run, keys);
    await registry.seed(seed, 'replace');
    return { registry, teardown: async () => {} };
  });

  timelineContract(name, async () => {
    const { client, run, keys } = fresh();
    return { events: createRedisEventStore(client, run, keys, { finishedRetentionMs: 60_000 }), teardown: async () => {} };
  });

  eventStoreContract(name, async () => {
    const { client, run, keys } = fresh();
    return {
      events: createRedisEventStore(client, run, keys, { finishedRetentionMs: 50 }),
      finishedRetentionMs: 50,
      later: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      teardown: async () => {},
    };
  });

  presenceContract(
    name,
    async () => {
      const { client, run, keys } = fresh();
      // Each peer is another node: its own connection and its own cache of who is alive.
      const peer = () => {
        const other = open();
        return createRedisPresence(other, scriptRunner(other), keys);
      };
      return { presence: createRedisPresence(client, run, keys), peer, aliveCacheMs: ALIVE_CACHE_MS, teardown: async () => {} };
    },
    { shared: true },
  );

  rateLimiterContract(name, async () => {
    const { keys } = fresh();
    const limiter = () => createRedisRateLimiter(fresh().run, keys, 60_000);
    return { limiter: limiter(), windowMs: 60_000, peer: limiter, teardown: async () => {} };
  });

  outboxContract(name, async () => {
    const { keys } = fresh();
    const drops: OutboxUnderTest['drops'] = [];
    const outbox = () => createRedisOutbox(fresh().run, keys, 600, (appId, eventId, reason) => drops.push({ appId, eventId, reason }));
    return { outbox: outbox(), maxPerApp: 600, drops, peer: outbox, teardown: async () => {} };
  });

  busContract(name, async () => {
    const { keys } = fresh();
    const buses: Bus[] = [];
    // A node publishes and subscribes once its backend is ready: before, a cluster client does
    // not know the slots yet, so a message redirected (MOVED) may arrive after later ones, and
    // the subscriber is made on a seed, which may not hold the channel's slot.
    const readyPublisher = async () => {
      const publisher = open();
      if (publisher.status !== 'ready') await new Promise((resolve) => publisher.once('ready', resolve));
      return publisher;
    };
    const [publisher, peerPublisher] = await Promise.all([readyPublisher(), readyPublisher()]);
    const busOn = (p: RedisClient) => {
      const made = createRedisBus(p, (channel) => track(openBusSubscriber(target(), p, channel)), keys, (err) => {
        throw err;
      });
      buses.push(made);
      return made;
    };
    return { bus: busOn(publisher), peer: () => busOn(peerPublisher), teardown: async () => void (await Promise.all(buses.map((b) => b.close()))) };
  });

  schedulerContract(
    name,
    async () => {
      const { keys } = fresh();
      const failed: Task[] = [];
      const made: Scheduler[] = [];
      const scheduler = () => {
        // BullMQ's workers block on their connection: it must never give up on a command.
        // Each node has its own connections, as real nodes do.
        const client = open();
        const s = createRedisScheduler(open({ maxRetriesPerRequest: null }), client, scriptRunner(client), keys, (_err, task) => {
          if (task) failed.push(task);
        });
        made.push(s);
        return s;
      };
      return { scheduler: scheduler(), failed, peer: scheduler, teardown: async () => void (await Promise.all(made.map((s) => s.close()))) };
    },
    { shared: true },
  );

  webhookLogContract(name, async () => {
    const { client, keys } = fresh();
    return createRedisWebhookLog(client, keys);
  });

  activityStoreContract(name, async (options) => {
    const { client, run, keys } = fresh();
    return { store: createRedisActivityStore(client, run, keys, options), teardown: async () => {} };
  });

  // Also as on one primary, where a first attempt is named by its event's end, not its delivery.
  for (const firstAttemptAtEnd of [false, true]) {
    tokenStreamContract(firstAttemptAtEnd ? `${name}, a first attempt named at its end` : name, async () => {
      const { keys } = fresh();
      const made: Array<ReturnType<typeof createRedisTokenStreams>> = [];
      const streams = (options: Parameters<typeof createRedisTokenStreams>[2]) => {
        const s = createRedisTokenStreams(open(), keys, options, firstAttemptAtEnd);
        made.push(s);
        return s;
      };
      return {
        streams,
        peer: streams,
        outage: (options) => {
          const client = open({ enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: false, retryStrategy: () => null });
          const s = createRedisTokenStreams(client, keys, options, firstAttemptAtEnd);
          made.push(s);
          return {
            streams: s,
            down: () => client.disconnect(),
            up: () => client.connect(),
          };
        },
        later: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        teardown: async () => {
          for (const s of made) s.close();
        },
      };
    });
  }
}
