import { Redis } from 'ioredis';
import { createRedisBus } from '../../packages/gateway/src/backends/redis/bus';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import type { BusMessage } from '../../packages/gateway/src/ports';
import { useRedisServer } from '../support/redis-server';

// The chaos test once left a node deaf to the bus for good after Redis restarted: every probe
// was lost and every resubscribe (a new connection) came back subscribed to nothing, because
// ioredis renews only the subscriptions whose reply it saw. Here the subscription is lost on
// purpose (SUNSUBSCRIBE behind the bus's back): resubscribe must make it again.
const server = useRedisServer();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a subscription the connection lost is made again by resubscribe', async () => {
  const keys = createKeys(`${server.redis.prefix}-resub`);
  const publisher = new Redis(server.redis.url);
  const subscriber = new Redis(server.redis.url);
  const bus = createRedisBus(publisher, subscriber, keys, (err) => {
    throw err;
  });
  try {
    const received: BusMessage[] = [];
    const undelivered: BusMessage[] = [];
    bus.onUndelivered((_node, message) => undelivered.push(message));
    await bus.subscribe('n1', (m) => received.push(m));

    await subscriber.sunsubscribe(keys.busChannel('n1'));
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
  } finally {
    await bus.close();
    publisher.disconnect();
    subscriber.disconnect();
  }
});
