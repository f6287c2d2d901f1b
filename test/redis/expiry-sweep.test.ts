import { Redis } from 'ioredis';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisScheduler, schedulerPrefixes } from '../../packages/gateway/src/backends/redis/scheduler';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import type { Scheduler, Task } from '../../packages/gateway/src/ports';
import { freePort, startRedis, type RedisUnderTest } from '../support/redis-server';

// Event expiries are members of a swept sorted set, not BullMQ jobs (expiry-sweep.ts). A node
// claims a due expiry with a lease; one that dies before it is done leaves it claimed, and
// another node must run it once the lease is over, and only then.

let redis: RedisUnderTest;
const clients: Redis[] = [];
const schedulers: Scheduler[] = [];
let n = 0;

beforeAll(async () => {
  redis = await startRedis({ port: await freePort() });
});
afterAll(async () => {
  await Promise.all(schedulers.map((s) => s.close()));
  for (const c of clients) c.disconnect();
  await redis.stop();
});

const open = (options: { maxRetriesPerRequest?: null } = {}) => {
  const client = new Redis(redis.url, options);
  clients.push(client);
  return client;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('an expiry claimed by a node that died runs on another node once its lease is over, once', async () => {
  const keys = createKeys(`${redis.prefix}-sweep-${++n}`);
  const client = open();
  const run = scriptRunner(client);
  const scheduler = createRedisScheduler(open({ maxRetriesPerRequest: null }), client, run, keys, () => {});
  schedulers.push(scheduler);
  const task: Task = { kind: 'expire', agentId: 'athena', eventId: 'evt_claimed' };
  await scheduler.at(Date.now(), task);

  // A node claims it (as its sweep does) and dies before running it.
  const lane = keys.expiries(schedulerPrefixes(keys, false)[0] as string);
  const leaseMs = 600;
  const claimedAt = Date.now();
  expect(await run('claimExpiries', [lane], [claimedAt, claimedAt + leaseMs, 16])).toEqual(['athena:evt_claimed']);

  const runs: number[] = [];
  scheduler.onDue(async (due) => {
    expect(due).toEqual(task);
    runs.push(Date.now());
  });
  await sleep(leaseMs + 1_000);
  expect(runs).toHaveLength(1);
  expect(runs[0]).toBeGreaterThanOrEqual(claimedAt + leaseMs);
  // done: nothing left in the set to run again
  expect(await client.zcard(lane)).toBe(0);
});

test('an expiry is one sorted-set member, not a BullMQ job; cancelling removes it', async () => {
  const keys = createKeys(`${redis.prefix}-sweep-${++n}`);
  const client = open();
  const scheduler = createRedisScheduler(open({ maxRetriesPerRequest: null }), client, scriptRunner(client), keys, () => {});
  schedulers.push(scheduler);
  const lane = keys.expiries(schedulerPrefixes(keys, false)[0] as string);
  const task: Task = { kind: 'expire', agentId: 'athena', eventId: 'evt_kept' };
  await scheduler.at(Date.now() + 60_000, task);
  expect(await client.zrange(lane, 0, -1)).toEqual(['athena:evt_kept']);
  expect(await client.keys('*evt_kept*')).toEqual([]); // no job hash, no job of any kind
  await scheduler.cancel(task);
  expect(await client.zcard(lane)).toBe(0);
});
