import { Redis } from 'ioredis';
import { createRedisBus } from '../../packages/gateway/src/backends/redis/bus';
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
    await bus.publish('n1', { kind: 'probe', sentAt: 0 });
    for (let i = 0; undelivered.length === 0; i++) {
      if (i > 500) throw new Error('the probe sent while unsubscribed was neither heard nor undelivered');
      await sleep(10);
    }
    expect(received).toEqual([]);

    await bus.resubscribe();
    for (let i = 1; !received.some((m) => m.kind === 'probe' && m.sentAt > 0); i++) {
      if (i > 300) throw new Error('no probe came back after resubscribing');
      await bus.publish('n1', { kind: 'probe', sentAt: i });
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
