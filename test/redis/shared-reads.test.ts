import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../packages/gateway/src/backends/redis/connect';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisRegistry } from '../../packages/gateway/src/backends/redis/registry';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { useRedisServer } from '../support/redis-server';

// Issue 13: every accept reads its agent's and app's records and counts the agent's queue, and
// every final reads the app's record again. On the node's connection, which sends what a turn of
// the event loop asks at the turn's end, callers in one turn share one read (connect.ts
// sharedInTurn): it leaves after all of them began, so each still sees every write answered
// before it began.

const server = useRedisServer();
const clients: Redis[] = [];
afterEach(() => Promise.all(clients.splice(0).map((c) => c.quit())));

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

async function setUp(batchWrites: boolean) {
  const keys = createKeys(`${server.redis.prefix}-${randomBytes(3).toString('hex')}`);
  const client = connectRedis({ url: server.redis.url }, { batchWrites }) as Redis;
  clients.push(client);
  await client.ping();
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, ...rest) => {
    sent.push(command.name);
    return send(command, ...rest);
  };
  const registry = createRedisRegistry(client, scriptRunner(client), keys);
  const app = { id: 'portal', name: 'Portal', rateLimitPerMin: 600, hardRateLimitPerMin: 1200, maxConnections: 10 };
  expect(await registry.createApp(app)).toBe(true);
  sent.length = 0;
  return { keys, client, registry, app, sent, queue: createRedisDeliveryQueue(client, scriptRunner(client), keys) };
}

test('reads of one record asked for in one turn go to Redis once, and each caller gets its own copy', async () => {
  const { registry, app, sent } = await setUp(true);
  const reads = [registry.app('portal'), registry.app('portal'), registry.app('portal'), registry.app('nobody')];
  const [a, b, c, none] = await Promise.all(reads);
  expect(sent).toEqual(['hget', 'hget']); // 'portal' once, 'nobody' once
  expect(a).toEqual(app);
  expect(b).toEqual(app);
  expect(c).toEqual(app);
  expect(a).not.toBe(b); // parsed per caller: one caller's changes reach no other
  expect(none).toBeNull();
});

test('a read in a later turn is a read of its own, and sees a change made meanwhile', async () => {
  const { registry, sent, keys } = await setUp(true);
  expect(await registry.app('portal')).toMatchObject({ rateLimitPerMin: 600 });
  // Another node changes the record, and is answered, before the next read begins.
  const other = connectRedis({ url: server.redis.url }) as Redis;
  clients.push(other);
  const changed = JSON.parse((await other.hget(keys.registryApps, 'portal')) as string);
  await other.hset(keys.registryApps, 'portal', JSON.stringify({ ...changed, rateLimitPerMin: 5 }));
  await nextTurn();
  expect(await registry.app('portal')).toMatchObject({ rateLimitPerMin: 5 });
  expect(sent).toEqual(['hget', 'hget']);
});

test("the agent's queue count is shared in one turn, and counted afresh in the next", async () => {
  const { queue, sent } = await setUp(true);
  const counts = await Promise.all([queue.waiting('athena'), queue.waiting('athena'), queue.waiting('hermes')]);
  expect(counts).toEqual([0, 0, 0]);
  expect(sent).toEqual(['zcard', 'zcard']);
  const now = Date.now();
  await queue.enqueue({ eventId: 'evt_1', agentId: 'athena', sessionKey: 's', order: 1, notBefore: now + 60_000, expiresAt: now + 120_000 });
  await nextTurn();
  expect(await queue.waiting('athena')).toBe(1);
});

test('a failed read fails every caller that shared it, and the next turn reads again', async () => {
  const keys = createKeys(`${server.redis.prefix}-${randomBytes(3).toString('hex')}`);
  // Not connected yet, and refusing to queue: every command fails as it is sent.
  const client = connectRedis({ url: server.redis.url }, { batchWrites: true, enableOfflineQueue: false, lazyConnect: true }) as Redis;
  clients.push(client);
  const registry = createRedisRegistry(client, scriptRunner(client), keys);
  const results = await Promise.allSettled([registry.agent('athena'), registry.agent('athena')]);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  await nextTurn();
  expect(await registry.agent('athena')).toBeNull();
});

test('on a connection that sends each command as it is called, every call reads', async () => {
  const { registry, app, sent } = await setUp(false);
  expect(await Promise.all([registry.app('portal'), registry.app('portal')])).toEqual([app, app]);
  expect(sent).toEqual(['hget', 'hget']);
});
