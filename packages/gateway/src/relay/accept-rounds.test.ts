import { gate, memoryBackendPerTest, openAgentAndApp, refsOf, relayOn, until, wait } from '../testing/in-process';
import { createAcceptTurns } from './accept-turns';
import type { Connection } from './connection';

// An accept's Redis steps go in as few round trips in a row as its rules allow (issue 13: under
// AOF each is an fsync before `accepted`). These pin which steps share a round, by holding one
// step back and seeing which others are already under way.

const freshBackend = memoryBackendPerTest();

const eventFrame = (ref: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: `portal:${ref}`, payload: { ref }, ref, ...extra });

const answer = (frames: Record<string, unknown>[], ref: string) => frames.find((f) => f.ref === ref && (f.type === 'accepted' || f.type === 'error'));

test("a socket's new events are appended together, each with its rate check, order number and key in one call, and answered once it resolves", async () => {
  const backend = freshBackend();
  const appended: string[] = [];
  const answered = gate();
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, key, ttlMs, admission) => {
    appended.push(JSON.parse(event.payloadRaw).ref as string);
    expect(admission).toMatchObject({ rate: expect.any(Object), queueAfter: null });
    const result = append(event, key, ttlMs, admission); // taken now, as the port says; answered once the gate opens
    await answered.opened;
    return result;
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);

  relay.received(app, eventFrame('a'));
  relay.received(app, eventFrame('b', { idempotency_key: 'k-b' }));
  await until(() => appended.length === 2); // b did not wait for a's append to be answered
  await wait(20);
  expect(answer(app.frames, 'a')).toBeUndefined();
  answered.open();
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(answer(app.frames, 'a')).toMatchObject({ type: 'accepted' });
  expect(answer(app.frames, 'b')).toMatchObject({ type: 'accepted' });
  expect((await backend.events.findByKey('portal', 'k-b', Date.now()))?.id).toBe(answer(app.frames, 'b')?.event_id);
  await relay.drain();
});

test("an event whose session has an earlier one still being queued on its socket may be queued in its append's step only after the one just before it", async () => {
  const backend = freshBackend();
  const ids: Record<string, string> = {};
  const queueAfter: Record<string, string | null> = {};
  const held = gate();
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, key, ttlMs, admission) => {
    const ref = JSON.parse(event.payloadRaw).ref as string;
    ids[event.id] = ref;
    queueAfter[ref] = admission?.queueAfter === undefined || admission.queueAfter === null ? null : (ids[admission.queueAfter] as string);
    const result = append(event, key, ttlMs, admission);
    if (ref === 'a') await held.opened; // a's session stays busy while the others are appended
    return result;
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  const inSessionA = (ref: string) => JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:a', payload: { ref }, ref });
  relay.received(app, eventFrame('a'));
  relay.received(app, inSessionA('a2'));
  relay.received(app, eventFrame('b'));
  relay.received(app, inSessionA('a3'));
  await until(() => Object.keys(queueAfter).length === 4);
  held.open();
  await until(() => answer(app.frames, 'a3') !== undefined);
  expect(queueAfter).toEqual({ a: null, a2: 'a', b: null, a3: 'a2' });
  await relay.drain();
});

test("the event a session's next event may be queued after: the last one appended, not one that failed before its append, and none once that one's session turn is over", async () => {
  const turns = createAcceptTurns();
  const socket = {} as Connection;
  const take = () => turns.take(socket, 'athena', 'relay:athena:portal:a');
  const failed = take();
  const first = take();
  failed.end(); // refused before its append: never queued
  expect(first.queueAfter('evt_1')).toBeNull();
  const second = take();
  const third = take();
  expect(second.queueAfter('evt_2')).toBe('evt_1');
  expect(third.queueAfter('evt_3')).toBe('evt_2');
  const fourth = take();
  third.end(); // failed after its append, before its session turn: it may yet be queued by then
  expect(fourth.queueAfter('evt_4')).toBe('evt_3');
  await first.inSession(async () => {});
  const fifth = take();
  expect(fifth.queueAfter('evt_5')).toBe('evt_4');
  await second.inSession(async () => {});
  await fourth.inSession(async () => {});
  const sixth = take();
  expect(sixth.queueAfter('evt_6')).toBe('evt_5'); // the fifth's session turn is not over
  const seventh = take();
  await fifth.inSession(async () => {});
  await sixth.inSession(async () => {}); // over: it, and every one before it, is queued or never will be
  expect(seventh.queueAfter('evt_7')).toBeNull();
  expect(turns.take(socket, 'athena', 'relay:athena:portal:b').queueAfter('evt_7')).toBeNull();
});

const delivered = (frames: Record<string, unknown>[]) => frames.filter((f) => f.type === 'event').map((f) => (f.payload as { ref: string }).ref);
const inSessionA = (ref: string) => JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:a', payload: { ref }, ref });

test("on a store that runs steps in call order, a session's queueings go out one after another without waiting for each other's replies", async () => {
  const backend = freshBackend(); // memory: its appends queue nothing, so each event is queued in its session's turn
  const refs = refsOf(backend);
  const replied = gate();
  const calls: string[] = [];
  const enqueue = backend.queue.enqueue.bind(backend.queue);
  backend.queue.enqueue = async (entry) => {
    const queued = enqueue(entry); // carried out now; its reply waits
    calls.push(`${refs.get(entry.eventId)}`);
    await replied.opened;
    return queued;
  };
  const enqueueAfter = backend.queue.enqueueAfter.bind(backend.queue);
  backend.queue.enqueueAfter = async (entry, after) => {
    const queued = enqueueAfter(entry, after);
    calls.push(`${refs.get(entry.eventId)} after ${refs.get(after)}`);
    await replied.opened;
    return queued;
  };
  const { relay } = relayOn(backend);
  const { agent, app } = await openAgentAndApp(relay);
  for (const ref of ['a1', 'a2', 'a3']) relay.received(app, inSessionA(ref));
  await until(() => calls.length === 3);
  expect(calls).toEqual(['a1', 'a2 after a1', 'a3 after a2']);
  expect(answer(app.frames, 'a1')).toBeUndefined(); // no reply has come back yet
  replied.open();
  await until(() => delivered(agent.frames).length === 3);
  expect(delivered(agent.frames)).toEqual(['a1', 'a2', 'a3']);
  expect(app.frames.filter((f) => f.type === 'accepted').map((f) => f.ref)).toEqual(['a1', 'a2', 'a3']);
  await relay.drain();
});

test("a session's queueing refused because the one before it was not queued yet is made again once that one is", async () => {
  const backend = freshBackend();
  const refs = refsOf(backend);
  const late = gate();
  const calls: string[] = [];
  const enqueue = backend.queue.enqueue.bind(backend.queue);
  backend.queue.enqueue = async (entry) => {
    const ref = refs.get(entry.eventId) as string;
    if (ref === 'a1') await late.opened; // a1's queueing runs late, after a2's (as a script the server had to be sent again does)
    calls.push(ref);
    return enqueue(entry);
  };
  const enqueueAfter = backend.queue.enqueueAfter.bind(backend.queue);
  backend.queue.enqueueAfter = async (entry, after) => {
    const queued = await enqueueAfter(entry, after);
    calls.push(`${refs.get(entry.eventId)} after ${refs.get(after)}: ${queued ? 'queued' : 'refused'}`);
    return queued;
  };
  const { relay } = relayOn(backend);
  const { agent, app } = await openAgentAndApp(relay);
  for (const ref of ['a1', 'a2']) relay.received(app, inSessionA(ref));
  await until(() => calls.length === 1);
  await wait(20);
  expect(calls).toEqual(['a2 after a1: refused']);
  expect(delivered(agent.frames)).toEqual([]);
  late.open();
  await until(() => delivered(agent.frames).length === 2);
  expect(calls).toEqual(['a2 after a1: refused', 'a1', 'a2']);
  expect(delivered(agent.frames)).toEqual(['a1', 'a2']);
  await relay.drain();
});

test.each([
  ['without an idempotency key', {}],
  ['with one', { idempotency_key: 'k-refused' }],
])('an event the rate limiter refuses leaves no record behind, though it was written beside the check (%s)', async (_, extra) => {
  const backend = freshBackend();
  await backend.registry.updateApp('portal', { rateLimitPerMin: 1, hardRateLimitPerMin: 1 });
  const ids: Record<string, string> = {};
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, ...rest) => {
    ids[JSON.parse(event.payloadRaw).ref as string] = event.id;
    return append(event, ...rest);
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('a'));
  relay.received(app, eventFrame('b', extra));
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(answer(app.frames, 'a')).toMatchObject({ type: 'accepted' });
  expect(answer(app.frames, 'b')).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
  expect(ids.b).toBeDefined(); // it was written
  await relay.drain();
  expect(await backend.events.get(ids.b as string)).toBeNull(); // and is gone
  expect(await backend.events.get(ids.a as string)).not.toBeNull();
  expect(await backend.events.findByKey('portal', 'k-refused', Date.now())).toBeNull();
});
