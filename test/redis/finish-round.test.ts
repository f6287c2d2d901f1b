import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { useRedisServer } from '../support/redis-server';

// Issue 13: on one primary, finishing an event notes its final as pending and finishes it in one
// round trip (the note still runs first: one connection runs commands in the order they are
// sent), so the app's final waits for one reply fewer.

const server = useRedisServer();

test('on one primary the finish is sent without waiting for the pending note, and the note still comes first', async () => {
  const { redis, client } = server;
  const keys = createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`);
  const events = createRedisEventStore(client, scriptRunner(client), keys, { finishedRetentionMs: 60_000 });
  const now = Date.now();
  const { record } = await events.append(
    { id: `evt_round_${randomBytes(3).toString('hex')}`, appId: 'portal', agentId: 'athena', threadId: 't1', sessionKey: 's', payloadRaw: '{}', acceptedAt: now, expiresAt: now + 60_000, appConnId: 'c1' },
    undefined,
    60_000,
  );
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, ...rest) => {
    sent.push(command.name);
    return send(command, ...rest);
  };
  const pauser = new Redis(redis.url);
  await pauser.call('CLIENT', 'PAUSE', '10000', 'WRITE'); // writes get no reply until unpaused
  try {
    const finishing = events.finish(record.id, '{"type":"reply"}', now);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent).toEqual(['zadd', 'evalsha']); // both out, neither answered
    await pauser.call('CLIENT', 'UNPAUSE');
    expect(await finishing).toMatchObject({ id: record.id, finished: true });
  } finally {
    client.sendCommand = send;
    await pauser.call('CLIENT', 'UNPAUSE');
    pauser.disconnect();
  }
  expect(await client.zscore(keys.finalsPending, record.id)).not.toBeNull();
  await events.finalHandedOn(record.id);
  // A later finish decides nothing, and takes back the note it made.
  expect(await events.finish(record.id, '{"type":"other"}', Date.now())).toBeNull();
  expect(await client.zscore(keys.finalsPending, record.id)).toBeNull();
});

test('finals handed on in one turn leave the pending list in one command', async () => {
  const { client } = server;
  const keys = createKeys(`${server.redis.prefix}-${randomBytes(3).toString('hex')}`);
  const events = createRedisEventStore(client, scriptRunner(client), keys, { finishedRetentionMs: 60_000 });
  const ids = ['evt_h1', 'evt_h2', 'evt_h3'];
  await client.zadd(keys.finalsPending, 1, 'evt_h1', 2, 'evt_h2', 3, 'evt_h3', 4, 'evt_other');
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, ...rest) => {
    sent.push(command.name);
    return send(command, ...rest);
  };
  try {
    await Promise.all(ids.map((id) => events.finalHandedOn(id)));
  } finally {
    client.sendCommand = send;
  }
  expect(sent).toEqual(['zrem']);
  expect(await client.zrange(keys.finalsPending, 0, -1)).toEqual(['evt_other']);
});
