import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { createRedisRateLimiter } from '../../packages/gateway/src/backends/redis/rate-limiter';
import { createRedisTokenStreams } from '../../packages/gateway/src/backends/redis/token-stream';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { RateRefused } from '../../packages/gateway/src/ports/rate-limiter';
import { newEvent } from '../contract/event-store.contract';
import { useRedisServer } from '../support/redis-server';

// Issue 13: the keys an event writes are set with fewer commands (the record by plain commands,
// the idempotency key by one SET, the rate window's expiry once per window), and every one of
// them still expires; an idempotency key whose record is gone is still taken over by one send.
// Issue 19: the expiry of a live token stream and of a timeline is set once per refresh, not with
// every write (expiry-refresh.ts).

const server = useRedisServer();

function setup() {
  const { client } = server;
  const keys = createKeys(`${server.redis.prefix}-${randomBytes(3).toString('hex')}`);
  const run = scriptRunner(client);
  const events = createRedisEventStore(client, run, keys, { finishedRetentionMs: 60_000 });
  return { client, keys, events, limiter: createRedisRateLimiter(run, keys, 1_000) };
}

test("an event's record and idempotency key expire, before and after its finish", async () => {
  const { client, keys, events } = setup();
  const event = newEvent();
  await events.append(event, 'k-ttl', 120_000);
  const recordTtl = await client.pttl(keys.event(event.id));
  // the event's TTL (a minute) plus a day in flight, at most
  expect(recordTtl).toBeGreaterThan(60_000);
  expect(recordTtl).toBeLessThanOrEqual(60_000 + 24 * 3600_000);
  const keyTtl = await client.pttl(keys.idempotency('portal', 'k-ttl'));
  expect(keyTtl).toBeGreaterThan(110_000);
  expect(keyTtl).toBeLessThanOrEqual(120_000);

  expect(await events.finish(event.id, '{"type":"reply"}', Date.now())).toMatchObject({ id: event.id, payloadRaw: '' });
  // kept as long as its key, which is longer than the finished retention
  const kept = await client.pttl(keys.event(event.id));
  expect(kept).toBeGreaterThan(100_000);
  expect(kept).toBeLessThanOrEqual(120_000);
  expect(await client.hexists(keys.event(event.id), 'payload')).toBe(0);

  const plain = newEvent();
  await events.append(plain, undefined, 120_000);
  await events.finish(plain.id, '{"type":"reply"}', Date.now());
  const plainKept = await client.pttl(keys.event(plain.id));
  expect(plainKept).toBeGreaterThan(50_000);
  expect(plainKept).toBeLessThanOrEqual(60_000);
});

/** An event id no queue holds: an admission after it is left for its caller to queue. */
const NOT_QUEUED = 'evt_not-queued';

/** An admission with the rate limits out of the way. */
const admitted = (queueAfter: string | null = NOT_QUEUED) => ({ rate: { softPerMin: 1_000, hardPerMin: 1_000 }, queueAfter });

test.each([
  ['claimed on its own', undefined],
  ['claimed by the rate check', admitted],
])('an idempotency key naming an event whose record is gone is taken over by exactly one of two racing sends (%s)', async (_, admission) => {
  const { client, keys, events } = setup();
  // a key that outlived the record it names
  await client.set(keys.idempotency('portal', 'k-gone'), 'evt_gone', 'PX', 60_000);
  const [a, b] = [newEvent(), newEvent()];
  const results = await Promise.all([events.append(a, 'k-gone', 60_000, admission?.()), events.append(b, 'k-gone', 60_000, admission?.())]);
  const winners = results.filter((r) => !r.duplicate);
  expect(winners).toHaveLength(1);
  const winner = winners[0]!.record.id;
  expect([a.id, b.id]).toContain(winner);
  expect(results.map((r) => r.record.id)).toEqual([winner, winner]);
  expect(await client.get(keys.idempotency('portal', 'k-gone'))).toBe(winner);
  // the loser's record is deleted
  const loser = winner === a.id ? b.id : a.id;
  expect(await client.exists(keys.event(loser))).toBe(0);
});

test("a rate window's counter expires, also when its first event is refused, and refusals use none of it", async () => {
  const { client, keys, limiter } = setup();
  const now = 5_000_500;
  const window = keys.rate('portal', 5_000);
  expect(await limiter.hit('portal', 1, 2, now)).toEqual({ allowed: true, notBefore: 0 });
  expect(await client.pttl(window)).toBeGreaterThan(1_000);
  expect(await client.pttl(window)).toBeLessThanOrEqual(2_000);
  expect(await limiter.hit('portal', 1, 2, now)).toMatchObject({ allowed: true });
  expect(await limiter.hit('portal', 1, 2, now)).toEqual({ allowed: false });
  expect(await client.get(window)).toBe('2');
  expect(await client.pttl(window)).toBeGreaterThan(0);

  // a hard limit of none: the window's key is made and refused at once, and still expires
  expect(await limiter.hit('academy', 1, 0, now)).toEqual({ allowed: false });
  const refusedWindow = keys.rate('academy', 5_000);
  expect(await client.get(refusedWindow)).toBe('0');
  expect(await client.pttl(refusedWindow)).toBeGreaterThan(1_000);
});

/** The names of the commands the client sends from now on. */
function commandsSent(client: Redis): string[] {
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, stream) => {
    sent.push(command.name);
    return send(command, stream);
  };
  return sent;
}

test("on one primary a new event's record and idempotency key are written by its rate check's script: one command", async () => {
  const client = new Redis(server.redis.url);
  try {
    const keys = createKeys(`${server.redis.prefix}-${randomBytes(3).toString('hex')}`);
    const events = createRedisEventStore(client, scriptRunner(client), keys, { finishedRetentionMs: 60_000 });
    await events.append(newEvent(), 'k-warm', 60_000, admitted()); // the script is on the server now
    const sent = commandsSent(client);
    const event = newEvent();
    const { record, duplicate } = await events.append(event, 'k-one', 60_000, admitted());
    expect(duplicate).toBe(false);
    expect(sent).toEqual(['evalsha']);
    expect(await client.get(keys.idempotency('portal', 'k-one'))).toBe(record.id);
    expect(await client.hget(keys.event(event.id), 'id')).toBe(event.id);
    expect(await client.pttl(keys.idempotency('portal', 'k-one'))).toBeGreaterThan(50_000);
  } finally {
    client.disconnect();
  }
});

test("on one primary, an event its caller lets queue at once is recorded, counted, numbered, claimed and queued in one command", async () => {
  const client = new Redis(server.redis.url);
  try {
    const keys = createKeys(`${server.redis.prefix}-${randomBytes(3).toString('hex')}`);
    const run = scriptRunner(client);
    const events = createRedisEventStore(client, run, keys, { finishedRetentionMs: 60_000 });
    const queue = createRedisDeliveryQueue(client, run, keys);
    await events.append(newEvent({ agentId: 'warm' }), 'k-warm', 60_000, admitted(null)); // the script is on the server now
    await queue.attach('athena', { connId: 'n1.9', nodeId: 'n1', maxInFlight: 1 });
    const sent = commandsSent(client);
    const first = newEvent();
    const appended = await events.append(first, 'k-now', 60_000, admitted(null));
    expect(sent).toEqual(['evalsha']);
    // handed out at once, as enqueue would have: the connection had room
    expect(appended.queued).toEqual({ assigned: [{ eventId: first.id, agentId: 'athena', connId: 'n1.9', nodeId: 'n1', attempt: 1, seq: 1 }], expired: [] });
    expect(await client.get(keys.idempotency('portal', 'k-now'))).toBe(first.id);
    // the next one waits: the connection is full
    const second = await events.append(newEvent({ sessionKey: 'relay:athena:portal:task-2' }), undefined, 60_000, admitted(null));
    expect(second.queued).toEqual({ assigned: [], expired: [] });
    expect(second.order).toBeGreaterThan(appended.order as number);
    expect(await queue.waiting('athena')).toBe(1);
    expect((await queue.events('athena')).sort()).toEqual([first.id, second.record.id].sort());
  } finally {
    client.disconnect();
  }
});

test('on one primary, an event its rate check refuses writes nothing, and nothing is deleted after it', async () => {
  const client = new Redis(server.redis.url);
  try {
    const keys = createKeys(`${server.redis.prefix}-${randomBytes(3).toString('hex')}`);
    const events = createRedisEventStore(client, scriptRunner(client), keys, { finishedRetentionMs: 60_000 });
    await events.append(newEvent({ agentId: 'warm' }), undefined, 60_000, admitted()); // the script is on the server now
    const sent = commandsSent(client);
    const event = newEvent({ appId: 'refused' });
    await expect(events.append(event, 'k-refused', 60_000, { rate: { softPerMin: 0, hardPerMin: 0 }, queueAfter: null })).rejects.toThrow(RateRefused);
    expect(sent).toEqual(['evalsha']);
    expect(await client.exists(keys.event(event.id))).toBe(0);
    expect(await client.exists(keys.idempotency('refused', 'k-refused'))).toBe(0);
  } finally {
    client.disconnect();
  }
});

test("on one primary, an accept whose one step ran but whose reply was lost keeps the record its key and queue now name", async () => {
  const { client, keys } = setup();
  const run = scriptRunner(client);
  const lost: typeof run = async (name, ...rest) => {
    const reply = await run(name, ...rest);
    if (name === 'acceptEvent') throw new Error('connection lost');
    return reply;
  };
  const events = createRedisEventStore(client, lost, keys, { finishedRetentionMs: 60_000 });
  const queue = createRedisDeliveryQueue(client, run, keys);
  const event = newEvent();
  await expect(events.append(event, 'k-lost', 60_000, admitted(null))).rejects.toThrow('connection lost');
  expect(await queue.events('athena')).toEqual([event.id]);
  expect(await client.get(keys.idempotency('portal', 'k-lost'))).toBe(event.id);
  expect(await client.hget(keys.event(event.id), 'id')).toBe(event.id); // so a resend under the key finds it
});

test("on one primary, an event whose session's previous event is already in the queue is queued in its record's own step, after it", async () => {
  const { client, keys, events } = setup();
  const queue = createRedisDeliveryQueue(client, scriptRunner(client), keys);
  await queue.attach('athena', { connId: 'n1.9', nodeId: 'n1', maxInFlight: 1 });
  const first = await events.append(newEvent(), undefined, 60_000, admitted(null));
  expect(first.queued?.assigned.map((a) => a.eventId)).toEqual([first.record.id]); // handed out
  const second = await events.append(newEvent(), undefined, 60_000, admitted(first.record.id));
  expect(second.queued).toEqual({ assigned: [], expired: [] }); // waiting: the connection is full
  const third = await events.append(newEvent(), undefined, 60_000, admitted(second.record.id));
  expect(third.queued).toEqual({ assigned: [], expired: [] });
  expect(await queue.waiting('athena')).toBe(2);
  // the session's next goes to the connection as the one before it is done, in order
  const handedOn: string[] = [];
  for (const done of [first, second]) {
    const result = await queue.remove('athena', done.record.id, false);
    handedOn.push(...result.assigned.map((a) => a.eventId));
  }
  expect(handedOn).toEqual([second.record.id, third.record.id]);
});

test.each([
  ["the event before it in its session is not in the queue", { queueAfter: NOT_QUEUED, soft: 1_000, key: undefined }],
  ['it is over the soft limit, so held', { queueAfter: null, soft: 1, key: undefined }],
  ['its key names an event already', { queueAfter: null, soft: 1_000, key: 'k-taken' }],
])('on one primary, an event is left for its caller to queue when %s', async (_, { queueAfter, soft, key }) => {
  const { client, keys, events } = setup();
  const queue = createRedisDeliveryQueue(client, scriptRunner(client), keys);
  const appId = `app-${randomBytes(3).toString('hex')}`;
  const rate = { softPerMin: soft, hardPerMin: 1_000 };
  const before = await events.append(newEvent({ appId }), 'k-taken', 60_000, { rate, queueAfter: null });
  expect(before.queued).toBeDefined();
  const event = newEvent({ appId, sessionKey: 'relay:athena:portal:task-2' });
  const appended = await events.append(event, key, 60_000, { rate, queueAfter });
  expect(appended.queued).toBeUndefined();
  expect(await queue.events('athena')).toEqual([before.record.id]);
  if (key !== undefined) {
    expect(appended).toMatchObject({ duplicate: true, record: { id: before.record.id } });
    expect(await client.exists(keys.event(event.id))).toBe(0);
    return;
  }
  expect(appended.duplicate).toBe(false);
  expect(appended.order).toBeGreaterThan(before.order as number); // numbered, for its caller's enqueue
  expect(appended.notBefore > 0).toBe(soft === 1);
});

/** Token streams on a connection of their own (a test may drop it), with a 10 min live TTL. */
function setupStreams() {
  const { client, keys } = setup();
  const writer = new Redis(server.redis.url);
  return { client, keys, writer, streams: createRedisTokenStreams(writer, keys, { retentionMs: 30_000, liveTtlMs: 600_000 }) };
}

test.each([
  ['named at its end (one primary)', true],
  ['named by its delivery', false],
])("a first attempt's delivery writes nothing where it is %s, and its first token says it has begun", async (_, firstAttemptAtEnd) => {
  const { client, keys } = setup();
  const writer = new Redis(server.redis.url);
  const streams = createRedisTokenStreams(writer, keys, { retentionMs: 30_000, liveTtlMs: 600_000 }, firstAttemptAtEnd);
  try {
    const id = newEvent().id;
    const key = keys.stream('athena', id);
    streams.begin(id, 'athena', 1);
    await streams.flushed();
    expect(await client.exists(key)).toBe(firstAttemptAtEnd ? 0 : 1);
    expect(await streams.attempt(id, 'athena')).toBe(firstAttemptAtEnd ? null : 1);
    streams.append(id, 'athena', 1, 0, 'Hello');
    await streams.flushed();
    expect(await streams.attempt(id, 'athena')).toBe(1);
    expect(await client.pttl(key)).toBeGreaterThan(590_000); // its expiry set with its first write
    // a later attempt is named as it is delivered, whatever the first's
    streams.begin(id, 'athena', 2);
    await streams.flushed();
    expect(await client.hget(key, 'a')).toBe('2');
    expect(await streams.attempt(id, 'athena')).toBe(2);
  } finally {
    streams.close();
    writer.disconnect();
  }
});

/** PEXPIREs this server has run since the call before (the file's tests run one at a time). */
async function pexpiresSince(client: import('ioredis').Redis): Promise<number> {
  const calls = Number(/cmdstat_pexpire:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
  await client.config('RESETSTAT');
  return calls;
}

test("a live stream's expiry is set once for many batches of its tokens, and kept past its live TTL", async () => {
  const { client, keys, writer, streams } = setupStreams();
  try {
    const id = newEvent().id;
    await pexpiresSince(client);
    streams.begin(id, 'athena', 1);
    for (let seq = 0; seq < 20; seq += 1) {
      streams.append(id, 'athena', 1, seq, `t${seq}`);
      await streams.flushed(); // each token its own batch, as when an agent streams slowly
    }
    expect(await pexpiresSince(client)).toBe(1);
    // the live TTL from the latest token, and at most the refresh interval (a quarter of it, at most a minute) more
    const ttl = await client.pttl(keys.stream('athena', id));
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(660_000);

    streams.ended(id, 'athena');
    await streams.flushed();
    const kept = await client.pttl(keys.stream('athena', id));
    expect(kept).toBeGreaterThan(25_000);
    expect(kept).toBeLessThanOrEqual(30_000);
  } finally {
    streams.close();
    writer.disconnect();
  }
});

test('a stream whose key Redis lost (a restart without its data) gets its expiry again once the client is back', async () => {
  const { client, keys, writer, streams } = setupStreams();
  try {
    const id = newEvent().id;
    const key = keys.stream('athena', id);
    streams.begin(id, 'athena', 1);
    streams.append(id, 'athena', 1, 0, 'a');
    await streams.flushed();
    expect(await client.pttl(key)).toBeGreaterThan(0);
    // as a restart would: the data gone, the connection dropped and made again
    await client.del(key);
    const back = new Promise((resolve) => writer.once('ready', resolve));
    writer.disconnect(true);
    await back;
    streams.append(id, 'athena', 1, 1, 'b');
    await streams.flushed();
    const ttl = await client.pttl(key);
    expect(ttl).toBeGreaterThan(590_000); // not -1: a key without expiry would stay for ever
  } finally {
    streams.close();
    writer.disconnect();
  }
});

test("a timeline's expiry is set once for one node's steps of an event, and again for a step after its final", async () => {
  const { client, keys, events } = setup();
  const id = newEvent().id;
  await pexpiresSince(client);
  await events.note(id, [{ at: 1, kind: 'delivered', node: 'b', conn: 'b.1', attempt: 1 }], 3_600_000);
  await events.note(id, [{ at: 2, kind: 'first_token', node: 'b', attempt: 1 }], 3_600_000);
  await events.note(id, [{ at: 3, kind: 'final', node: 'b', outcome: 'reply', finishReason: 'stop' }], 3_600_000);
  expect(await pexpiresSince(client)).toBe(1);
  // the retention from the latest step, and at most the refresh interval (ten seconds) more
  const ttl = await client.pttl(keys.timeline(id));
  expect(ttl).toBeGreaterThan(3_590_000);
  expect(ttl).toBeLessThanOrEqual(3_610_000);
  // a webhook try after the final may come from any node: it sets the expiry again
  await events.note(id, [{ at: 4, kind: 'webhook', node: 'b', attempt: 1, outcome: 'delivered', status: 200 }], 3_600_000);
  expect(await pexpiresSince(client)).toBe(1);
  expect((await events.timeline(id)).map((step) => step.kind)).toEqual(['delivered', 'first_token', 'final', 'webhook']);
});

test("a timeline step sent before the previous step's answer sets no expiry of its own; one whose write failed leaves it to the next", async () => {
  const { client, keys, events } = setup();
  const id = newEvent().id;
  await pexpiresSince(client);
  // `delivered`, then the agent's first token in a later turn, before the first write is answered
  const delivered = events.note(id, [{ at: 1, kind: 'delivered', node: 'b', conn: 'b.1', attempt: 1 }], 3_600_000);
  await new Promise((resolve) => setImmediate(resolve));
  await Promise.all([delivered, events.note(id, [{ at: 2, kind: 'first_token', node: 'b', attempt: 1 }], 3_600_000)]);
  expect(await pexpiresSince(client)).toBe(1);
  expect(await client.pttl(keys.timeline(id))).toBeGreaterThan(3_590_000);

  // A write that fails (the key is not a list) does not count as having set the expiry.
  const other = newEvent().id;
  await client.set(keys.timeline(other), 'not a list');
  await expect(events.note(other, [{ at: 1, kind: 'delivered', node: 'b', conn: 'b.1', attempt: 1 }], 3_600_000)).rejects.toThrow(/WRONGTYPE/);
  await client.del(keys.timeline(other));
  await pexpiresSince(client);
  await events.note(other, [{ at: 2, kind: 'first_token', node: 'b', attempt: 1 }], 3_600_000);
  expect(await pexpiresSince(client)).toBe(1);
  expect(await client.pttl(keys.timeline(other))).toBeGreaterThan(3_590_000); // not -1: it would stay for ever
});

test('a stream’s writes count as sent once they are on the connection, before Redis has answered them', async () => {
  const { client, keys, writer, streams } = setupStreams();
  try {
    const id = newEvent().id;
    await client.client('PAUSE', 300, 'WRITE'); // Redis holds every write for 300 ms
    const order: string[] = [];
    streams.begin(id, 'athena', 1);
    streams.append(id, 'athena', 1, 0, 'a');
    const written = streams.flushed().then(() => order.push('written'));
    const sent = streams.sent().then(() => order.push('sent'));
    await Promise.all([written, sent]);
    expect(order).toEqual(['sent', 'written']);
    // and a command sent after it on the connection takes effect after the write
    expect(await writer.hget(keys.stream('athena', id), '1.0')).toBe('a');
  } finally {
    streams.close();
    writer.disconnect();
  }
});
