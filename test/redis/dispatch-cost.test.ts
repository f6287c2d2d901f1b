import { Redis } from 'ioredis';
import type { DeliveryQueue, QueueEntry } from '@relay/gateway';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { freePort, startRedis, type RedisUnderTest } from '../support/redis-server';

// Issue 11.1: a dispatch must not read the events that wait behind a full connection or a
// rate-limit hold. Work is counted, not timed: the Redis commands the queue scripts run inside
// (INFO commandstats) for one more operation must be the same with 50 or 2,000 events waiting.

let redis: RedisUnderTest;
let client: Redis;
let queue: DeliveryQueue;
let order = 0;
const FAR = Date.now() + 3_600_000;

beforeAll(async () => {
  // its own server: commandstats count every client of it
  redis = await startRedis({ port: await freePort() });
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});
beforeEach(() => {
  queue = createRedisDeliveryQueue(client, scriptRunner(client), createKeys(`${redis.prefix}-${++order}`));
});

const entry = (eventId: string, sessionKey: string, extra: Partial<QueueEntry> = {}): QueueEntry => ({
  eventId, agentId: 'athena', sessionKey, order: ++order, notBefore: 0, expiresAt: FAR, ...extra,
});

/** Commands run inside scripts (and outside) since the last reset, the script calls themselves not counted. */
async function commandsDuring(step: () => Promise<unknown>): Promise<number> {
  await client.config('RESETSTAT');
  await step();
  const stats = await client.info('commandstats');
  let calls = 0;
  for (const [, name, n] of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!['evalsha', 'eval', 'config', 'info', 'script'].includes(name as string)) calls += Number(n);
  }
  return calls;
}

/** The work of `step` after `fill` put `depth` events in the queue. */
async function workAt(depth: number, fill: (i: number) => QueueEntry, step: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < depth; i += 1) await queue.enqueue(fill(i));
  expect(await queue.waiting('athena')).toBeGreaterThanOrEqual(depth);
  return commandsDuring(step);
}

describe('dispatch cost does not grow with the waiting queue', () => {
  const blockedOnFullHolder = async (depth: number) => {
    await queue.attach('athena', { connId: 'c1', nodeId: 'n1', maxInFlight: 1 });
    await queue.enqueue(entry('first', 'sA'));
    await queue.attach('athena', { connId: 'c2', nodeId: 'n1', maxInFlight: 64 });
    return workAt(depth, (i) => entry(`w${i}`, 'sA'), () => queue.enqueue(entry('one-more', 'sA')));
  };

  test('a session held by a full connection beside a free one', async () => {
    const small = await blockedOnFullHolder(50);
    queue = createRedisDeliveryQueue(client, scriptRunner(client), createKeys(`${redis.prefix}-${++order}`));
    const large = await blockedOnFullHolder(2_000);
    expect(large).toBe(small);
  });

  const heldByRate = async (depth: number) => {
    await queue.attach('athena', { connId: 'c1', nodeId: 'n1', maxInFlight: 64 });
    return workAt(depth, (i) => entry(`h${i}`, `s${i % 10}`, { notBefore: FAR }), () => queue.pump('athena'));
  };

  test('events held past the soft rate limit, with a free connection', async () => {
    const small = await heldByRate(50);
    queue = createRedisDeliveryQueue(client, scriptRunner(client), createKeys(`${redis.prefix}-${++order}`));
    const large = await heldByRate(2_000);
    expect(large).toBe(small);
  });

  const resend = async (depth: number) => {
    await queue.attach('athena', { connId: 'c1', nodeId: 'n1', maxInFlight: 1 });
    await queue.enqueue(entry('first', 'sA'));
    await queue.attach('athena', { connId: 'c2', nodeId: 'n1', maxInFlight: 64 });
    const again = entry('again', 'sA');
    await queue.enqueue(again);
    return workAt(depth, (i) => entry(`r${i}`, 'sA'), () => queue.enqueue(again));
  };

  test('an idempotent resend of a waiting event', async () => {
    const small = await resend(50);
    queue = createRedisDeliveryQueue(client, scriptRunner(client), createKeys(`${redis.prefix}-${++order}`));
    const large = await resend(2_000);
    expect(large).toBe(small);
  });

  test('the blocked session still goes, in order, once its holder has room', async () => {
    await blockedOnFullHolder(50);
    const freed = await queue.remove('athena', 'first', false);
    expect(freed.assigned).toMatchObject([{ eventId: 'w0', connId: 'c1' }]);
  });
});
