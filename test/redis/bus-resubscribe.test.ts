import { Redis } from 'ioredis';
import { createRedisBus } from '../../packages/gateway/src/backends/redis/bus';
import { connectRedis, openBusSubscriber } from '../../packages/gateway/src/backends/redis/connect';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import type { BusMessage } from '../../packages/gateway/src/ports';
import { useRedisServer } from '../support/redis-server';

// Chaos runs left a node deaf to the bus for good: every probe was lost and every resubscribe
// (the same client reconnected) came back subscribed to nothing. ioredis renews only the
// subscriptions whose reply it saw, and on a Redis Cluster a sharded subscriber can stay on a
// node that is no longer its slot's primary. Here the subscription is lost on purpose
// (SUNSUBSCRIBE behind the bus's back): resubscribe must make it again.
const server = useRedisServer();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a subscription the connection lost is made again by resubscribe', async () => {
  const keys = createKeys(`${server.redis.prefix}-resub`);
  const publisher = new Redis(server.redis.url);
  const subscribers: Redis[] = [];
  const bus = createRedisBus(
    publisher,
    () => {
      const made = new Redis(server.redis.url);
      subscribers.push(made);
      return made;
    },
    keys,
    (err) => {
      throw err;
    },
  );
  try {
    const received: BusMessage[] = [];
    const undelivered: BusMessage[] = [];
    bus.onUndelivered((_node, message) => undelivered.push(message));
    await bus.subscribe('n1', (m) => received.push(m));

    await subscribers[0]?.sunsubscribe(keys.busChannel('n1'));
    bus.publish('n1', { kind: 'probe', sentAt: 0 });
    for (let i = 0; undelivered.length === 0; i++) {
      if (i > 500) throw new Error('the probe sent while unsubscribed was neither heard nor undelivered');
      await sleep(10);
    }
    expect(received).toEqual([]);

    await bus.resubscribe();
    // subscribed once resubscribe resolves: the first probe after it is heard
    bus.publish('n1', { kind: 'probe', sentAt: 1 });
    for (let i = 0; !received.some((m) => m.kind === 'probe' && m.sentAt === 1); i++) {
      if (i > 300) throw new Error('the probe sent right after resubscribing was not heard');
      await sleep(10);
    }
    // the old client is let go, not left connected beside the new one
    expect(subscribers.map((s) => s.status)).toEqual(['end', 'ready']);
  } finally {
    await bus.close();
    publisher.disconnect();
    for (const s of subscribers) s.disconnect();
  }
});

test('a resubscribe leaves no moment without a subscriber: what is sent meanwhile is heard, none of it taken for a dead node’s', async () => {
  const keys = createKeys(`${server.redis.prefix}-overlap`);
  const publisher = new Redis(server.redis.url);
  const bus = createRedisBus(publisher, () => new Redis(server.redis.url), keys, (err) => {
    throw err;
  });
  try {
    const heard = new Set<number>();
    const undelivered: BusMessage[] = [];
    bus.onUndelivered((_node, message) => undelivered.push(message));
    await bus.subscribe('n1', (m) => {
      if (m.kind === 'probe') heard.add(m.sentAt);
    });
    let sent = 0;
    const sending = (async () => {
      for (; sent < 200; sent++) {
        bus.publish('n1', { kind: 'probe', sentAt: sent });
        await sleep(1);
      }
    })();
    for (let i = 0; i < 5; i++) await bus.resubscribe();
    await sending;
    for (let i = 0; heard.size < sent && i < 300; i++) await sleep(10);
    expect(undelivered).toEqual([]);
    expect(heard.size).toBe(sent);
  } finally {
    await bus.close();
    publisher.disconnect();
  }
});

test('a batch whose SPUBLISH failed while Redis was down is sent again once it is back, or handed over as unheard, never dropped', async () => {
  const keys = createKeys(`${server.redis.prefix}-down`);
  const target = { url: server.redis.url };
  const retryStrategy = () => 50;
  // as a node's: commands fail at once while disconnected
  const publisher = connectRedis(target, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy });
  const bus = createRedisBus(publisher, (channel) => openBusSubscriber(target, publisher, channel, { retryStrategy }), keys, () => {});
  try {
    const heard = new Set<number>();
    const unheard = new Set<number>();
    bus.onUndelivered((_node, m) => {
      if (m.kind === 'probe') unheard.add(m.sentAt);
    });
    await bus.subscribe('n1', (m) => {
      if (m.kind === 'probe') heard.add(m.sentAt);
    });
    await server.redis.kill();
    for (let i = 0; i < 5; i++) bus.publish('n1', { kind: 'probe', sentAt: i });
    await sleep(300);
    await server.redis.start();
    for (let i = 0; heard.size + unheard.size < 5 && i < 1_000; i++) await sleep(10);
    expect([...heard, ...unheard].sort()).toEqual([0, 1, 2, 3, 4]);
  } finally {
    await bus.close();
    publisher.disconnect();
  }
});
