import { randomBytes } from 'node:crypto';
import { createRedisActivityStore, ROWS_PER_SCRIPT } from '../../packages/gateway/src/backends/redis/activity';
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

// Redis runs a script to its end before any other client's command: a second's rows in one
// script held every command of the node's event path up for about 10 ms at a thousand events a
// second. Rows go in pieces of ROWS_PER_SCRIPT, and the bounds hold across pieces.
test('a large batch of rows goes in pieces, each a short script, and the bounds hold across them', async () => {
  const { client, redis } = server;
  const prefix = `${redis.prefix}-${randomBytes(3).toString('hex')}`;
  const keys = createKeys(prefix);
  const run = scriptRunner(client);
  const rowsPerCall: number[] = [];
  const counting: typeof run = (name, scriptKeys, args) => {
    if (name === 'putActivity') rowsPerCall.push(scriptKeys.length - 1);
    return run(name, scriptKeys, args);
  };
  const maxEvents = 2 * ROWS_PER_SCRIPT + 10;
  const store = createRedisActivityStore(client, counting, keys, { retentionMs: 60_000, maxEvents });
  const now = Date.now();
  const id = (i: number) => `evt_${String(i).padStart(4, '0')}`;
  const rows = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, k) => from + k)
      // oldest and newest mixed, so a later piece may push out rows of an earlier one
      .sort((a, b) => (a % 2) - (b % 2) || a - b)
      .map((i) => ({ eventId: id(i), fields: { appId: 'portal', agentId: 'athena', threadId: 't', acceptedAt: now - 10_000 + i } }));
  await store.putEvents(rows(0, ROWS_PER_SCRIPT + 10), now);
  await store.putEvents(rows(ROWS_PER_SCRIPT + 10, 3 * ROWS_PER_SCRIPT + 10), now);
  expect(rowsPerCall).toEqual([ROWS_PER_SCRIPT, 10, ROWS_PER_SCRIPT, ROWS_PER_SCRIPT]);
  const newest = Array.from({ length: maxEvents }, (_, k) => id(3 * ROWS_PER_SCRIPT + 9 - k));
  expect((await store.recentEvents(1_000)).map((r) => r.eventId)).toEqual(newest);
  const stored = await client.keys(`${prefix}:*`);
  expect(stored.sort()).toEqual([keys.activityRecent, ...newest.map(keys.activityEvent)].sort());
});
