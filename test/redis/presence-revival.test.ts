import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisPresence } from '../../packages/gateway/src/backends/redis/presence';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import type { ConnectionInfo } from '../../packages/gateway/src/ports';
import { startRedis, type RedisUnderTest } from '../support/redis-server';

// A node whose liveness key lapses (Redis restarted, or the node paused) is reaped by a peer,
// then beats again and re-registers its sockets. The peer must see those sockets at once: a
// final it routes in that moment otherwise finds the app "offline" and is only held for the
// app's next connection, which a connected app never makes (the chaos test lost 8 replies so).

let redis: RedisUnderTest;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await redis.stop();
});

const TTL_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a node reaped while its key had lapsed, then back, has its new connections seen by the reaper at once', async () => {
  const keys = createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`);
  const [a, b] = [new Redis(redis.url), new Redis(redis.url)];
  clients.push(a, b);
  const reaper = createRedisPresence(a, scriptRunner(a), keys);
  const revived = createRedisPresence(b, scriptRunner(b), keys);
  const conn = (connId: string): ConnectionInfo => ({ connId, nodeId: 'node-b', role: 'app', principalId: 'academy', tokenId: 't', since: Date.now() });

  await reaper.heartbeat('node-a', 60_000);
  await revived.heartbeat('node-b', TTL_MS);
  expect(await revived.add(conn('node-b.1'), 10)).toBe(true);
  expect((await reaper.list('app', 'academy')).map((c) => c.connId)).toEqual(['node-b.1']);

  await sleep(TTL_MS + 100); // node-b's key lapses
  expect((await reaper.reapDeadNodes('node-a', async () => {})).map((c) => c.connId)).toEqual(['node-b.1']);
  expect(await reaper.list('app', 'academy')).toEqual([]);

  // node-b beats again, learns it was given up, and its clients reconnect to it
  expect(await revived.heartbeat('node-b', 60_000)).toBe(false);
  expect(await revived.add(conn('node-b.2'), 10)).toBe(true);
  expect((await reaper.list('app', 'academy')).map((c) => c.connId)).toEqual(['node-b.2']);
  expect((await reaper.get('node-b.2'))?.nodeId).toBe('node-b');
});
