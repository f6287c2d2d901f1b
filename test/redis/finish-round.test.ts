import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { useRedisServer } from '../support/redis-server';

// Issue 13: on one primary, finishing an event and noting its final as not yet handed on are one
// script, so the finish is one command and the app's final waits for one reply; a finish that
// loses notes nothing, so nothing is taken back.

const server = useRedisServer();

/** The names of the commands the client sends until `stop`. */
function commandsSent(client: Redis): { sent: string[]; stop: () => void } {
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, ...rest) => {
    sent.push(command.name);
    return send(command, ...rest);
  };
  return { sent, stop: () => (client.sendCommand = send) };
}

test("on one primary an event's finish notes its final as not yet handed on in the same command, and a finish that loses notes nothing", async () => {
  const { redis, client } = server;
  const keys = createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`);
  const events = createRedisEventStore(client, scriptRunner(client), keys, { finishedRetentionMs: 60_000 });
  const now = Date.now();
  const { record } = await events.append(
    { id: `evt_round_${randomBytes(3).toString('hex')}`, appId: 'portal', agentId: 'athena', threadId: 't1', sessionKey: 's', payloadRaw: '{}', acceptedAt: now, expiresAt: now + 60_000, appConnId: 'c1' },
    undefined,
    60_000,
  );
  await events.finish('evt_missing', '{"type":"reply"}', now); // the script is on the server now
  const { sent, stop } = commandsSent(client);
  try {
    expect(await events.finish(record.id, '{"type":"reply"}', 1_000)).toMatchObject({ id: record.id, finished: true });
    expect(sent).toEqual(['evalsha']);
    expect(await client.zscore(keys.finalsPending, record.id)).toBe('1000');
    // handed on, then a second finisher (an expiry, a cancel) loses: the final is not owed again
    await events.finalHandedOn(record.id);
    expect(await client.zscore(keys.finalsPending, record.id)).toBeNull();
    sent.length = 0;
    expect(await events.finish(record.id, '{"type":"other"}', 2_000)).toBeNull();
    expect(sent).toEqual(['evalsha']);
  } finally {
    stop();
  }
  expect(await client.zscore(keys.finalsPending, record.id)).toBeNull();
  expect(await events.overdueFinals(3_000, 3_000, 10)).not.toContain(record.id);
});

test('finals handed on in one turn leave the pending list in one command', async () => {
  const { client } = server;
  const keys = createKeys(`${server.redis.prefix}-${randomBytes(3).toString('hex')}`);
  const events = createRedisEventStore(client, scriptRunner(client), keys, { finishedRetentionMs: 60_000 });
  const ids = ['evt_h1', 'evt_h2', 'evt_h3'];
  await client.zadd(keys.finalsPending, 1, 'evt_h1', 2, 'evt_h2', 3, 'evt_h3', 4, 'evt_other');
  const { sent, stop } = commandsSent(client);
  try {
    await Promise.all(ids.map((id) => events.finalHandedOn(id)));
  } finally {
    stop();
  }
  expect(sent).toEqual(['zrem']);
  expect(await client.zrange(keys.finalsPending, 0, -1)).toEqual(['evt_other']);
});
