/**
 * Protocol edge cases a real node cannot be made to produce on demand, against a scripted relay:
 * answers out of order, a final (or tokens) before the `accepted` it belongs to, duplicate finals, a
 * redelivery of an event already answered or still running, live tokens racing a resume's
 * replay, a refused resume, JSON pings both ways, a relay that goes silent, and how the token
 * and subprotocol travel.
 */
import { createAgentClient, createAppClient, type AgentClient, type AppClient, type FinalOutcome } from '@relay/sdk';
import type { Frame } from '../support/client';
import { relayFrames, ScriptedRelay, type ScriptedConnection } from './support/scripted-relay';
import { FAST, recordStates, sleep, until } from './support/sdk-helpers';

let relay: ScriptedRelay;
const clients: (AppClient | AgentClient)[] = [];
beforeEach(async () => {
  relay = await ScriptedRelay.start();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await relay.close();
});
const app = (options: object = {}) => {
  const client = createAppClient({ url: relay.url, token: 'rlk_portal_secret', ...FAST, ...options });
  clients.push(client);
  return client;
};
const agent = (options: object = {}) => {
  const client = createAgentClient({ url: relay.url, token: 'rla_athena_secret', ...FAST, ...options });
  clients.push(client);
  return client;
};
const send = (conn: ScriptedConnection, frame: object) => conn.ws.send(JSON.stringify(frame));
const framesOf = (conn: ScriptedConnection, type: string) => conn.frames.filter((f) => f.type === type);
/** A settled handle's tokens as `attempt.seq text`. */
const texts = async (tokens: AsyncIterable<{ attempt: number; seq: number; text: string }>) => {
  const out: string[] = [];
  for await (const t of tokens) out.push(`${t.attempt}.${t.seq} ${t.text}`);
  return out;
};

test('the token goes in the Authorization header and the relay-app subprotocol is offered (Node)', async () => {
  const client = app({ url: `${relay.url}/` });
  await client.opened();
  const [conn] = relay.connections;
  expect(conn).toMatchObject({ authorization: 'Bearer rlk_portal_secret', protocol: 'relay-app', url: '/v1/ws/app' });
});

test("tokenIn: 'query' puts the token in the URL, as browsers must; agents offer relay-agent", async () => {
  const client = agent({ tokenIn: 'query' });
  await client.opened();
  const [conn] = relay.connections;
  expect(conn).toMatchObject({ authorization: undefined, protocol: 'relay-agent', url: '/v1/ws/agent?token=rla_athena_secret' });
});

test('answers are matched by ref, not by order: the second send answered first still gets its own event', async () => {
  const client = app();
  const first = client.send('athena', 'portal:one', { n: 1 });
  const second = client.send('athena', 'portal:two', { n: 2 });
  const conn = await relay.waitFor(() => relay.connections[0]?.frames.length === 2 && relay.connections[0]);
  const [e1, e2] = conn.frames as [Frame, Frame];
  expect(e1.idempotency_key).not.toEqual(e2.idempotency_key);
  send(conn, relayFrames.accepted(e2.ref, 'evt_second', 'athena', 'portal:two'));
  send(conn, relayFrames.accepted(e1.ref, 'evt_first', 'athena', 'portal:one'));
  expect((await first).eventId).toBe('evt_first');
  expect((await second).eventId).toBe('evt_second');
});

test('a final that arrives before the accepted of a resend is kept for it, not reported as an orphan', async () => {
  const client = app();
  const orphans: FinalOutcome[] = [];
  client.on('orphan', (o) => orphans.push(o));
  const sending = client.send('athena', 'portal:t', {});
  const first = await relay.waitFor(() => relay.connections[0]?.frames[0] && relay.connections[0]);
  const key = (first.frames[0] as Frame).idempotency_key;
  relay.onConnection = (conn) => send(conn, relayFrames.reply('evt_early', 'answered while you were away'));
  first.ws.terminate(); // the accepted is lost with the socket

  const second = await relay.waitFor(() => relay.connections[1]?.frames[0] && relay.connections[1]);
  const resent = second.frames[0] as Frame;
  expect(resent.idempotency_key).toBe(key);
  send(second, relayFrames.accepted(resent.ref, 'evt_early'));
  const handle = await sending;
  expect(handle.eventId).toBe('evt_early');
  // Accepted on the lost socket too, perhaps: the tokens sent there are asked for from the start,
  // and the final waits for their replay.
  const [resume, barrier] = await relay.waitFor(() => second.frames.length === 3 && (second.frames.slice(1) as [Frame, Frame]));
  expect(resume).toEqual({ type: 'resume', event_id: 'evt_early', ref: expect.any(String) });
  expect(barrier).toMatchObject({ type: 'discover' });
  send(second, relayFrames.resumed(resume.ref as string, 'evt_early', 0));
  send(second, relayFrames.token('evt_early', 0, 'answered '));
  send(second, relayFrames.token('evt_early', 1, 'while you were away'));
  send(second, relayFrames.agents(barrier.ref as string));
  await expect(handle.reply).resolves.toMatchObject({ content: 'answered while you were away' });
  expect(await texts(handle.tokens)).toEqual(['1.0 answered ', '1.1 while you were away']);
  expect(orphans).toEqual([]);
});

test('a send whose tokens and final came before its accepted, on the same socket (its first try refused after the relay recorded it): the handle resumes, and the replay brings the tokens before the final', async () => {
  const client = app();
  const sending = client.send('athena', 'portal:t', {});
  const conn = await relay.waitFor(() => relay.connections[0]?.frames[0] && relay.connections[0]);
  const ref = (conn.frames[0] as Frame).ref as string;
  send(conn, relayFrames.token('evt_ahead', 0, 'a'));
  send(conn, relayFrames.token('evt_ahead', 1, 'b'));
  send(conn, relayFrames.reply('evt_ahead', 'ab'));
  send(conn, relayFrames.accepted(ref, 'evt_ahead'));
  const handle = await sending;
  const [resume, barrier] = await relay.waitFor(() => conn.frames.length === 3 && (conn.frames.slice(1) as [Frame, Frame]));
  expect(resume).toEqual({ type: 'resume', event_id: 'evt_ahead', ref: expect.any(String) });
  send(conn, relayFrames.resumed(resume.ref as string, 'evt_ahead', 0));
  send(conn, relayFrames.token('evt_ahead', 0, 'a'));
  send(conn, relayFrames.token('evt_ahead', 1, 'b'));
  send(conn, relayFrames.agents(barrier.ref as string));
  await expect(handle.reply).resolves.toMatchObject({ content: 'ab' });
  expect(await texts(handle.tokens)).toEqual(['1.0 a', '1.1 b']);
});

test("live tokens that reach a resumed socket before the `resumed` are dropped: the replay brings them, in order", async () => {
  const client = app();
  const sending = client.send('athena', 'portal:t', {});
  const first = await relay.waitFor(() => relay.connections[0]?.frames[0] && relay.connections[0]);
  send(first, relayFrames.accepted((first.frames[0] as Frame).ref as string, 'evt_race'));
  const handle = await sending;
  const taken: string[] = [];
  const streaming = (async () => {
    for await (const t of handle.tokens) taken.push(`${t.attempt}.${t.seq} ${t.text}`);
  })();
  send(first, relayFrames.token('evt_race', 0, 'a'));
  await until(() => taken.length === 1, 2_000, 'the first token');
  first.ws.terminate();

  const second = await relay.waitFor(() => relay.connections[1]?.frames.length === 3 && relay.connections[1]);
  const [, resume, barrier] = second.frames as [Frame, Frame, Frame];
  expect(resume).toEqual({ type: 'resume', event_id: 'evt_race', attempt: 1, after_seq: 0, ref: expect.any(String) });
  send(second, relayFrames.token('evt_race', 2, 'c')); // live, from the resend, ahead of the replay
  send(second, relayFrames.resumed(resume.ref as string, 'evt_race', 1));
  send(second, relayFrames.token('evt_race', 1, 'b'));
  send(second, relayFrames.token('evt_race', 2, 'c'));
  send(second, relayFrames.agents(barrier.ref as string));
  send(second, relayFrames.reply('evt_race', 'abc'));
  await expect(handle.reply).resolves.toMatchObject({ content: 'abc' });
  await streaming;
  expect(taken).toEqual(['1.0 a', '1.1 b', '1.2 c']);
});

test('a final held for a replay that a lost socket never wrote waits for the next socket\'s replay', async () => {
  const client = app();
  const sending = client.send('athena', 'portal:t', {});
  const first = await relay.waitFor(() => relay.connections[0]?.frames[0] && relay.connections[0]);
  send(first, relayFrames.accepted((first.frames[0] as Frame).ref as string, 'evt_held'));
  const handle = await sending;
  send(first, relayFrames.token('evt_held', 0, 'a'));
  await sleep(50); // taken
  first.ws.terminate();

  const second = await relay.waitFor(() => relay.connections[1]?.frames.length === 3 && relay.connections[1]);
  send(second, relayFrames.reply('evt_held', 'ab')); // from the outbox, ahead of the replay
  await sleep(50);
  second.ws.terminate(); // before the replay

  const third = await relay.waitFor(() => relay.connections[2]?.frames.length === 3 && relay.connections[2]);
  const [, resume, barrier] = third.frames as [Frame, Frame, Frame];
  expect(resume).toMatchObject({ type: 'resume', event_id: 'evt_held', attempt: 1, after_seq: 0 });
  send(third, relayFrames.resumed(resume.ref as string, 'evt_held', 1));
  send(third, relayFrames.token('evt_held', 1, 'b'));
  send(third, relayFrames.agents(barrier.ref as string));
  await expect(handle.reply).resolves.toMatchObject({ content: 'ab' });
  expect(await texts(handle.tokens)).toEqual(['1.0 a', '1.1 b']);
});

test('a resume refused with RELAY_UNAVAILABLE is sent again, and the final waits for its replay', async () => {
  const client = app();
  const sending = client.send('athena', 'portal:t', {});
  const first = await relay.waitFor(() => relay.connections[0]?.frames[0] && relay.connections[0]);
  send(first, relayFrames.accepted((first.frames[0] as Frame).ref as string, 'evt_down'));
  const handle = await sending;
  let settled = false;
  void handle.reply.then(() => (settled = true));
  first.ws.terminate();

  const second = await relay.waitFor(() => relay.connections[1]?.frames.length === 3 && relay.connections[1]);
  const [, resume, barrier] = second.frames as [Frame, Frame, Frame];
  send(second, relayFrames.reply('evt_down', 'xy')); // from the outbox, as the socket opened
  const refusal = { type: 'error', code: 'RELAY_UNAVAILABLE', message: 'down', error: 'down', event_id: 'evt_down', ref: resume.ref };
  send(second, refusal);
  send(second, relayFrames.agents(barrier.ref as string));
  const [again, barrier2] = await relay.waitFor(() => second.frames.length === 5 && (second.frames.slice(3) as [Frame, Frame]), 3_000);
  expect(again).toEqual(resume);
  expect(settled).toBe(false);
  send(second, relayFrames.resumed(again.ref as string, 'evt_down', 0));
  send(second, relayFrames.token('evt_down', 0, 'x'));
  send(second, relayFrames.token('evt_down', 1, 'y'));
  send(second, relayFrames.agents(barrier2.ref as string));
  await expect(handle.reply).resolves.toMatchObject({ content: 'xy' });
  expect(await texts(handle.tokens)).toEqual(['1.0 x', '1.1 y']);
});

test('duplicate finals are dropped; a final for no send of this client is an orphan, reported once', async () => {
  const client = app();
  const orphans: FinalOutcome[] = [];
  client.on('orphan', (o) => orphans.push(o));
  const sending = client.send('athena', 'portal:t', {});
  const conn = await relay.waitFor(() => relay.connections[0]?.frames[0] && relay.connections[0]);
  send(conn, relayFrames.accepted((conn.frames[0] as Frame).ref, 'evt_mine'));
  const handle = await sending;
  send(conn, relayFrames.reply('evt_mine', 'once'));
  send(conn, relayFrames.reply('evt_mine', 'twice'));
  send(conn, relayFrames.reply('evt_other', 'not mine'));
  send(conn, relayFrames.reply('evt_other', 'not mine'));
  await expect(handle.reply).resolves.toMatchObject({ content: 'once' });
  await until(() => orphans.length > 0, 2_000, 'the orphan');
  await sleep(100);
  expect(orphans).toEqual([{ eventId: 'evt_other', ok: true, reply: expect.objectContaining({ content: 'not mine' }) }]);
});

test('an agent answers a redelivery of an event it already answered with the same tokens and reply, without running again', async () => {
  let runs = 0;
  agent().onEvent((_event, reply) => {
    runs += 1;
    reply.token('Hi');
    return reply.done('Hi there', { metadata: { model: 'fake' } });
  });
  const conn = await relay.waitFor(() => relay.connections[0]);
  send(conn, relayFrames.event('evt_one', 1));
  const [reply] = await relay.waitFor(() => framesOf(conn, 'reply').length === 1 && framesOf(conn, 'reply'));
  expect(reply).toEqual({ type: 'reply', event_id: 'evt_one', content: 'Hi there', finish_reason: 'stop', metadata: { model: 'fake' } });
  send(conn, relayFrames.event('evt_one', 2));
  await relay.waitFor(() => framesOf(conn, 'reply').length === 2);
  expect(framesOf(conn, 'reply')[1]).toEqual(reply);
  // The redelivery is a new attempt, streamed from seq 0: the app drops the first one's text.
  const token = { type: 'token', event_id: 'evt_one', token: 'Hi' };
  expect(framesOf(conn, 'token')).toEqual([token, token]);
  expect(conn.frames.map((f) => f.type)).toEqual(['token', 'reply', 'token', 'reply']);
  expect(runs).toBe(1);
});

test('an agent redelivered an event still running sends its tokens so far again on the new socket, then the rest', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let runs = 0;
  agent().onEvent(async (_event, reply) => {
    runs += 1;
    reply.token('one ');
    reply.token('two ');
    await released;
    reply.token('three');
    return reply.done('one two three');
  });
  const first = await relay.waitFor(() => relay.connections[0]);
  send(first, relayFrames.event('evt_run', 1));
  await relay.waitFor(() => framesOf(first, 'token').length === 2);
  first.ws.terminate();

  const second = await relay.waitFor(() => relay.connections[1]);
  send(second, relayFrames.event('evt_run', 2));
  await relay.waitFor(() => framesOf(second, 'token').length === 2);
  release();
  await relay.waitFor(() => framesOf(second, 'reply').length === 1);
  expect(second.frames.map((f) => (f.type === 'token' ? f.token : f.type))).toEqual(['one ', 'two ', 'three', 'reply']);
  expect(runs).toBe(1);
});

test('an agent sends a reply the relay refused with RELAY_UNAVAILABLE again, once per refusal, on the same socket', async () => {
  let runs = 0;
  const client = agent().onEvent((_event, reply) => {
    runs += 1;
    return reply.done('kept');
  });
  const errors: string[] = [];
  client.on('error', (e) => errors.push(e.code));
  const conn = await relay.waitFor(() => relay.connections[0]);
  send(conn, relayFrames.event('evt_refused', 1));
  const [reply] = await relay.waitFor(() => framesOf(conn, 'reply').length === 1 && framesOf(conn, 'reply'));
  const refusal = { type: 'error', code: 'RELAY_UNAVAILABLE', message: 'down', error: 'down', event_id: 'evt_refused' };
  send(conn, refusal);
  await relay.waitFor(() => framesOf(conn, 'reply').length === 2, 3_000);
  send(conn, refusal);
  await relay.waitFor(() => framesOf(conn, 'reply').length === 3, 3_000);
  await sleep(1_600); // no refusal, no more retries
  expect(framesOf(conn, 'reply')).toEqual([reply, reply, reply]);
  expect(runs).toBe(1);
  expect(errors).toEqual(['RELAY_UNAVAILABLE', 'RELAY_UNAVAILABLE']);
});

test("both clients answer the relay's JSON ping with a pong (with its ref)", async () => {
  app();
  agent();
  const conns = await relay.waitFor(() => relay.connections.length === 2 && relay.connections);
  for (const conn of conns) send(conn, { type: 'ping', ref: 'p-1' });
  await relay.waitFor(() => conns.every((c) => framesOf(c, 'pong').length === 1));
  for (const conn of conns) expect(framesOf(conn, 'pong')).toEqual([{ type: 'pong', ref: 'p-1' }]);
});

test('heartbeat: a relay that stops answering is dropped after timeoutMs and the client reconnects', async () => {
  const client = app({ heartbeat: { intervalMs: 100, timeoutMs: 100 } });
  const states = recordStates(client);
  const first = await relay.waitFor(() => relay.connections[0]);
  // answered pings keep the socket: several intervals pass without a reconnect
  first.ws.on('message', (data) => {
    if (JSON.parse(data.toString()).type === 'ping' && framesOf(first, 'ping').length <= 3) send(first, { type: 'pong' });
  });
  await relay.waitFor(() => framesOf(first, 'ping').length >= 3, 3_000);
  expect(relay.connections).toHaveLength(1);
  // then it goes silent (a half-open TCP connection looks like this)
  await relay.waitFor(() => relay.connections.length === 2, 3_000);
  const drop = states.find((s) => s.state === 'reconnecting');
  expect(drop).toMatchObject({ code: 1006, reason: 'no frame within 100 ms of a ping' });
});

test('frames outside the protocol are reported on the error event and do not disturb the client', async () => {
  const client = app();
  const errors: string[] = [];
  client.on('error', (e) => errors.push(e.code));
  const conn = await relay.waitFor(() => relay.connections[0]);
  conn.ws.send('not json');
  send(conn, { type: 'agents', agents: 'nope' });
  send(conn, { type: 'error', code: 'RATE_LIMITED', message: 'slow down', error: 'slow down' }); // for no request
  const agents = client.discover();
  const ask = await relay.waitFor(() => framesOf(conn, 'discover')[0]);
  send(conn, { type: 'agents', agents: [{ id: 'athena', name: 'Athena', description: 'd', status: 'online' }], ref: ask.ref });
  expect(await agents).toEqual([{ id: 'athena', name: 'Athena', description: 'd', status: 'online' }]);
  expect(errors).toEqual(['INVALID_JSON', 'INVALID_MESSAGE', 'RATE_LIMITED']);
});
