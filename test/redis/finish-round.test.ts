import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createRedisBackend } from '../../packages/gateway/src/backends/redis';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { expiryMember } from '../../packages/gateway/src/backends/redis/expiry-sweep';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { useRedisServer } from '../support/redis-server';
import { newEvent } from '../contract/event-store.contract';
import { until } from '../../packages/gateway/src/testing/in-process';

// Issue 13: on one primary, finishing an event and noting its final as not yet handed on are one
// script, so the finish is one command and the app's final waits for one reply; a finish that
// loses notes nothing, so nothing is taken back. The relay's way to end an event there
// (Backend.finishAndRemove) also cancels its expiry, ends its token stream and takes it out of
// its agent's queue in that script.

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

test("on one primary an event's end is one command: finished, noted, its expiry cancelled, its stream ended, out of its agent's queue, and what that frees assigned", async () => {
  const { redis, client } = server;
  const keys = createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`);
  const run = scriptRunner(client);
  const expiries = `${keys.bullPrefix}:expiries-test`;
  const events = createRedisEventStore(client, run, keys, { finishedRetentionMs: 60_000, ending: { expiries, streamRetentionMs: 30_000 } });
  const queue = createRedisDeliveryQueue(client, run, keys);
  const finishAndRemove = events.finishAndRemove!;
  await queue.attach('athena', { connId: 'n1.9', nodeId: 'n1', maxInFlight: 1 });
  const [first, second] = [newEvent(), newEvent({ sessionKey: 'relay:athena:portal:task-2' })];
  for (const [i, event] of [first, second].entries()) {
    await events.append(event, undefined, 60_000);
    await queue.enqueue({ eventId: event.id, agentId: 'athena', sessionKey: event.sessionKey, order: i + 1, notBefore: 0, expiresAt: event.expiresAt });
  }
  expect(await queue.holder('athena', first.id)).toBe('n1.9'); // the connection is full: second waits
  for (const event of [first, second]) {
    await client.zadd(expiries, event.expiresAt, expiryMember('athena', event.id));
    // a first attempt's tokens, its attempt not named (token-stream.ts firstAttemptAtEnd)
    await client.hset(keys.stream('athena', event.id), '1.0', 'Hello');
    await client.pexpire(keys.stream('athena', event.id), 600_000);
  }
  await finishAndRemove('evt_warm', 'athena', '{}', 0); // the script is on the server now
  const { sent, stop } = commandsSent(client);
  let ended;
  try {
    ended = await finishAndRemove(first.id, 'athena', '{"type":"reply"}', 1_000);
  } finally {
    stop();
  }
  expect(sent).toEqual(['evalsha']);
  expect(ended.removed).toMatchObject({ was: 'in-flight', connId: 'n1.9', assigned: [{ eventId: second.id, connId: 'n1.9', attempt: 1 }] });
  expect(await ended.finished).toMatchObject({ id: first.id, finished: true, final: '{"type":"reply"}', payloadRaw: '' });
  expect(await client.zscore(keys.finalsPending, first.id)).toBe('1000');
  expect(await queue.events('athena')).toEqual([second.id]);
  expect(await client.zrange(expiries, 0, -1)).toEqual([expiryMember('athena', second.id)]);
  const kept = await client.pttl(keys.stream('athena', first.id));
  expect(kept).toBeGreaterThan(25_000);
  expect(kept).toBeLessThanOrEqual(30_000);
  expect(await client.hget(keys.stream('athena', first.id), 'a')).toBe('1'); // it was assigned: its attempt is named

  // Ended already (by a finisher that died before the removal): not finished again, not noted,
  // its expiry and stream left to whoever ended it, and still taken out of the queue.
  await events.finish(second.id, '{"type":"error"}', 2_000);
  await events.finalHandedOn(second.id);
  const again = await finishAndRemove(second.id, 'athena', '{"type":"reply"}', 3_000);
  expect(again.removed).toMatchObject({ was: 'in-flight', connId: 'n1.9', assigned: [] });
  expect(await again.finished).toBeNull();
  expect(await client.zscore(keys.finalsPending, second.id)).toBeNull();
  expect(await queue.events('athena')).toEqual([]);
  expect(await events.get(second.id)).toMatchObject({ final: '{"type":"error"}' });
  expect(await client.zrange(expiries, 0, -1)).toEqual([expiryMember('athena', second.id)]);
  expect(await client.pttl(keys.stream('athena', second.id))).toBeGreaterThan(500_000);
  expect(await client.hget(keys.stream('athena', second.id), 'a')).toBeNull();
});

test("on one primary an event's end names its stream's first attempt only if it was ever assigned, and never over a later one", async () => {
  const { redis, client } = server;
  const keys = createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`);
  const run = scriptRunner(client);
  const events = createRedisEventStore(client, run, keys, { finishedRetentionMs: 60_000, ending: { expiries: `${keys.bullPrefix}:expiries-test`, streamRetentionMs: 30_000 } });
  const queue = createRedisDeliveryQueue(client, run, keys);
  const [unassigned, second, assigned] = [newEvent(), newEvent({ sessionKey: 'relay:athena:portal:task-2' }), newEvent({ sessionKey: 'relay:athena:portal:task-3' })];
  for (const [i, event] of [unassigned, second, assigned].entries()) {
    await events.append(event, undefined, 60_000);
    await queue.enqueue({ eventId: event.id, agentId: 'athena', sessionKey: event.sessionKey, order: i + 1, notBefore: 0, expiresAt: event.expiresAt });
  }
  // no connection yet: `unassigned` ends waiting, never handed to an agent
  await (await events.finishAndRemove!(unassigned.id, 'athena', '{"type":"error"}', 1_000)).finished;
  expect(await client.exists(keys.stream('athena', unassigned.id))).toBe(0);
  // `second` goes out and comes back (its connection lost), then out again as attempt 2, named
  await queue.attach('athena', { connId: 'n1.9', nodeId: 'n1', maxInFlight: 1 });
  await queue.detach('athena', 'n1.9');
  await queue.attach('athena', { connId: 'n1.10', nodeId: 'n1', maxInFlight: 1 });
  expect(await queue.attempts('athena', second.id)).toBe(2);
  await client.hset(keys.stream('athena', second.id), 'a', '2');
  const ended = await events.finishAndRemove!(second.id, 'athena', '{"type":"reply"}', 2_000);
  expect(await client.hget(keys.stream('athena', second.id), 'a')).toBe('2');
  // what that freed: `assigned`, its first attempt, which ends with no token recorded: its end
  // names attempt 1, kept for the stream's retention
  expect(ended.removed.assigned).toMatchObject([{ eventId: assigned.id, attempt: 1 }]);
  await (await events.finishAndRemove!(assigned.id, 'athena', '{"type":"reply"}', 3_000)).finished;
  expect(await client.hget(keys.stream('athena', assigned.id), 'a')).toBe('1');
  expect(await client.pttl(keys.stream('athena', assigned.id))).toBeGreaterThan(25_000);
});

test("the Redis backend's end of an event cancels its expiry where its scheduler filed it", async () => {
  const { redis } = server;
  const backend = createRedisBackend({
    target: { url: redis.url },
    prefix: `${redis.prefix}-${randomBytes(3).toString('hex')}`,
    registry: { apps: [], agents: [], tokens: [] },
    registryMode: 'admin',
    rateWindowMs: 1_000,
    finishedRetentionMs: 60_000,
    log: pino({ level: 'silent' }),
  });
  try {
    // connected: commands fail at once until then (ready() also waits for a bus this test has not)
    for (;;) {
      if (await backend.events.get('evt_none').then(() => true, () => false)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const due: string[] = [];
    backend.scheduler.onDue(async (task) => {
      if (task.kind === 'expire') due.push(task.eventId);
    });
    const [ended, left] = [newEvent(), newEvent()];
    for (const event of [ended, left]) {
      await backend.events.append(event, undefined, 60_000);
      await backend.scheduler.at(Date.now() + 100, { kind: 'expire', agentId: 'athena', eventId: event.id });
    }
    const { finished } = await backend.finishAndRemove!(ended.id, 'athena', '{"type":"reply"}', Date.now());
    expect(await finished).toMatchObject({ id: ended.id });
    await until(() => due.includes(left.id));
    await new Promise((resolve) => setTimeout(resolve, 300)); // a sweep more
    expect(due).toEqual([left.id]);
  } finally {
    await backend.close();
  }
});
