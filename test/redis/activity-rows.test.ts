import { randomBytes } from 'node:crypto';
import { createRedisActivityStore } from '../../packages/gateway/src/backends/redis/activity';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { useRedisServer } from '../support/redis-server';

// The Dashboard's recent events keep at most `maxEvents` rows: a row pushed out of the bounds
// (by newer rows, or by the retention) is deleted from Redis then, and late news of it does not
// make it again. Each row's hash used to outlive its place in the index by the whole retention:
// at a thousand events a second, tens of millions of keys a day.

const server = useRedisServer();

test('rows past the bounds leave nothing behind in Redis', async () => {
  const { client, redis } = server;
  const prefix = `${redis.prefix}-${randomBytes(3).toString('hex')}`;
  const keys = createKeys(prefix);
  const store = createRedisActivityStore(client, scriptRunner(client), keys, { retentionMs: 60_000, maxEvents: 3 });
  const now = Date.now();
  const row = (i: number, acceptedAt = now - 1_000 + i) => ({
    eventId: `evt_${i}`,
    fields: { appId: 'portal', agentId: 'athena', threadId: `t${i}`, acceptedAt, outcome: 'reply_stop', finalMs: i },
  });
  await store.putEvents([1, 2, 3, 4, 5].map((i) => row(i)), now);
  await store.putEvents([row(6, now - 120_000)], now); // older than the retention
  await store.putEvents([{ eventId: 'evt_1', fields: { ...row(1).fields, attempt: 2 } }], now); // late news of a dropped row

  expect((await store.recentEvents(10)).map((r) => r.eventId)).toEqual(['evt_5', 'evt_4', 'evt_3']);
  const stored = await client.keys(`${prefix}:*`);
  expect(stored.sort()).toEqual([keys.activityRecent, ...['evt_3', 'evt_4', 'evt_5'].map(keys.activityEvent)].sort());
});
