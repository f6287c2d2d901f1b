import { fakeConnection, gate, memoryBackendPerTest, openAgentAndApp, refsOf, relayOn, until, wait } from '../testing/in-process';
import type { Backend } from '../ports';

// An app socket's events are accepted concurrently (accept-turns.ts), yet the socket sees what it
// saw when they were accepted one at a time: answers in frame order, none delivered before its
// answer, each session's events delivered in the order they came, and the queue cap exact on a node.

/** Makes the `which`-th record and rate check (EventStore.append) wait for `until`, then fail with `fail`. */
function failAppend(backend: Backend, which: number, until: Promise<void>, fail: Error) {
  const append = backend.events.append.bind(backend.events);
  let calls = 0;
  backend.events.append = async (...args) => {
    if (++calls !== which) return append(...args);
    await until;
    throw fail;
  };
}

/** Makes the queue-cap read of the first event wait for `until`: it has not yet asked for its order number. */
function stallFirstCapRead(backend: Backend, until: Promise<void>) {
  const waiting = backend.queue.waiting.bind(backend.queue);
  let calls = 0;
  backend.queue.waiting = async (agentId) => {
    if (++calls === 1) await until;
    return waiting(agentId);
  };
}

/** `[ref, order]` of each event as it is queued, in the order they are queued. */
function queuedOrders(backend: Backend): Array<[string, number]> {
  const refs = refsOf(backend);
  const orders: Array<[string, number]> = [];
  const enqueue = backend.queue.enqueue.bind(backend.queue);
  backend.queue.enqueue = async (entry) => {
    orders.push([refs.get(entry.eventId) as string, entry.order]);
    return enqueue(entry);
  };
  const enqueueAfter = backend.queue.enqueueAfter.bind(backend.queue);
  backend.queue.enqueueAfter = async (entry, after) => {
    const queued = await enqueueAfter(entry, after);
    if (queued) orders.push([refs.get(entry.eventId) as string, entry.order]);
    return queued;
  };
  return orders;
}

const freshBackend = memoryBackendPerTest();

const eventFrame = (ref: string, thread: string) =>
  JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: thread, payload: { ref }, ref });

const answers = (frames: Record<string, unknown>[]) =>
  frames.filter((f) => f.type === 'accepted' || f.type === 'error').map((f) => `${f.type as string} ${f.ref as string}`);

test('an event stalled in the store does not hold up the next one, whose accepted still follows its own', async () => {
  const backend = freshBackend();
  const stalled = gate();
  const enqueue = backend.queue.enqueue.bind(backend.queue);
  const queued: string[] = [];
  let calls = 0;
  backend.queue.enqueue = async (entry) => {
    if (++calls === 1) await stalled.opened; // the first event's queue place waits
    queued.push(entry.eventId);
    return enqueue(entry);
  };
  const { relay } = relayOn(backend);
  const { agent, app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('a', 'portal:t1'));
  relay.received(app, eventFrame('b', 'portal:t2'));

  await until(() => queued.length === 1); // `b` recorded and queued while `a` waits
  await wait(50);
  expect(queued).toHaveLength(1);
  expect(answers(app.frames)).toEqual([]); // `b` answers only after `a`
  expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]); // and is delivered after it too

  stalled.open();
  await until(() => answers(app.frames).length === 2);
  expect(answers(app.frames)).toEqual(['accepted a', 'accepted b']);
  await until(() => agent.frames.filter((f) => f.type === 'event').length === 2);
  // Two sessions: the agent's connection gets them in the order the queue assigned them, `b`
  // first, as `a` waited for its place (delivery-order.ts); only a session's order is kept.
  expect(agent.frames.filter((f) => f.type === 'event').map((f) => (f.payload as { ref: string }).ref)).toEqual(['b', 'a']);
  await relay.drain();
});

test('events to one agent take their order numbers in the order they came, across sessions, however long their checks take', async () => {
  const backend = freshBackend();
  const stalled = gate();
  stallFirstCapRead(backend, stalled.opened); // the first event's checks wait
  const orders = queuedOrders(backend);
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  ['a', 'b', 'c'].forEach((ref, n) => relay.received(app, eventFrame(ref, `portal:t${n}`)));
  await wait(100);
  expect(orders).toEqual([]); // `b` and `c` have passed their checks, but take no number before `a`
  stalled.open();
  await until(() => orders.length === 3);
  const byRef = Object.fromEntries(orders);
  expect(byRef.a).toBeLessThan(byRef.b as number);
  expect(byRef.b).toBeLessThan(byRef.c as number);
  await until(() => answers(app.frames).length === 3);
  expect(answers(app.frames)).toEqual(['accepted a', 'accepted b', 'accepted c']);
  await relay.drain();
});

test.each([
  ['of different sessions', ['portal:t1', 'portal:t2', 'portal:t3']],
  ['of one session', ['portal:same', 'portal:same', 'portal:same']],
])('an event refused between two others does not let the later one ahead of the earlier (%s)', async (_, threads) => {
  const backend = freshBackend();
  const stalled = gate();
  const waiting = backend.queue.waiting.bind(backend.queue);
  let reads = 0;
  backend.queue.waiting = async (agentId) => {
    reads += 1;
    if (reads === 1) await stalled.opened; // `a` still checking
    if (reads === 2) return 1_000_000; // `b` finds the queue full, and leaves its turns
    return waiting(agentId);
  };
  const orders = queuedOrders(backend);
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  ['a', 'b', 'c'].forEach((ref, n) => relay.received(app, eventFrame(ref, threads[n] as string)));
  await wait(100);
  expect(orders).toEqual([]); // `c` waits for `a`, though `b` has left
  stalled.open();
  await until(() => answers(app.frames).length === 3);
  expect(answers(app.frames)).toEqual(['accepted a', 'error b', 'accepted c']);
  expect(orders.map(([ref]) => ref)).toEqual(['a', 'c']);
  expect((orders[0] as [string, number])[1]).toBeLessThan((orders[1] as [string, number])[1]);
  await relay.drain();
});

test('events to different agents do not wait for each other\'s order numbers', async () => {
  const backend = freshBackend();
  const athena = await backend.registry.agent('athena');
  await backend.registry.createAgent({ ...(athena as NonNullable<typeof athena>), id: 'hermes', name: 'Hermes' });
  const stalled = gate();
  stallFirstCapRead(backend, stalled.opened);
  const append = backend.events.append.bind(backend.events);
  const appended: string[] = [];
  backend.events.append = async (event, ...rest) => {
    appended.push(JSON.parse(event.payloadRaw).ref as string);
    return append(event, ...rest);
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('a', 'portal:t1'));
  relay.received(app, JSON.stringify({ type: 'event', agent_id: 'hermes', thread_id: 'portal:t2', payload: { ref: 'b' }, ref: 'b' }));
  await until(() => appended.includes('b'));
  expect(appended).toEqual(['b']);
  stalled.open();
  await until(() => answers(app.frames).length === 2);
  expect(answers(app.frames)).toEqual(['accepted a', 'accepted b']);
  await relay.drain();
});

test("a failed event's error comes before the next event's accepted, in frame order", async () => {
  const backend = freshBackend();
  const stalled = gate();
  failAppend(backend, 1, stalled.opened, new Error('store down'));
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('a', 'portal:t1'));
  relay.received(app, eventFrame('b', 'portal:t2'));
  relay.received(app, eventFrame('c', 'portal:t3'));
  await wait(50);
  expect(answers(app.frames)).toEqual([]);
  stalled.open();
  await until(() => answers(app.frames).length === 3);
  expect(answers(app.frames)).toEqual(['error a', 'accepted b', 'accepted c']);
  expect(app.frames.find((f) => f.ref === 'a')).toMatchObject({ code: 'RELAY_UNAVAILABLE' });
  await relay.drain();
});

test('events of one session are queued in the order they came, one at a time, whichever record is written first', async () => {
  const backend = freshBackend();
  await backend.registry.updateAgent('athena', { maxInFlight: 10 });
  const stalled = gate();
  // the first event's record waits: the second, of the same session, must not be queued before it
  const append = backend.events.append.bind(backend.events);
  const appended: string[] = [];
  backend.events.append = async (event, ...rest) => {
    const ref = JSON.parse(event.payloadRaw).ref as string;
    if (ref === 'a') await stalled.opened;
    appended.push(ref);
    return append(event, ...rest);
  };
  const enqueue = backend.queue.enqueue.bind(backend.queue);
  const queued: string[] = [];
  backend.queue.enqueue = async (entry) => {
    queued.push(entry.eventId);
    return enqueue(entry);
  };
  const { relay } = relayOn(backend);
  const { agent, app } = await openAgentAndApp(relay);
  for (const ref of ['a', 'b', 'c']) relay.received(app, eventFrame(ref, 'portal:same'));
  await until(() => appended.length === 2);
  await wait(50);
  expect(appended).toEqual(['b', 'c']); // recorded beside their rate checks, without waiting for `a`
  expect(queued).toEqual([]); // but queued only after `a`
  stalled.open();
  await until(() => agent.frames.filter((f) => f.type === 'event').length === 3);
  expect(agent.frames.filter((f) => f.type === 'event').map((f) => (f.payload as { ref: string }).ref)).toEqual(['a', 'b', 'c']);
  expect(answers(app.frames)).toEqual(['accepted a', 'accepted b', 'accepted c']);
  await relay.drain();
});

test('a burst of events at once meets the queue cap exactly: the ones past it get QUEUE_FULL', async () => {
  const backend = freshBackend();
  await backend.registry.updateAgent('athena', { maxQueue: 3 });
  const { relay } = relayOn(backend);
  const app = fakeConnection('n1.2', 'app', 'portal'); // no agent: every event waits
  relay.opened(app);
  await wait(50);
  const refs = ['a', 'b', 'c', 'd', 'e', 'f'];
  refs.forEach((ref, n) => relay.received(app, eventFrame(ref, `portal:t${n}`)));
  await until(() => answers(app.frames).length === refs.length);
  expect(answers(app.frames)).toEqual(['accepted a', 'accepted b', 'accepted c', 'error d', 'error e', 'error f']);
  expect(app.frames.filter((f) => f.type === 'error').every((f) => f.code === 'QUEUE_FULL')).toBe(true);
  expect(await backend.queue.waiting('athena')).toBe(3);
  await relay.drain();
});

test('a burst to a free agent is not refused for places its earlier events take only for a moment', async () => {
  const backend = freshBackend();
  await backend.registry.updateAgent('athena', { maxQueue: 1, maxInFlight: 10 });
  const { relay } = relayOn(backend);
  const { agent, app } = await openAgentAndApp(relay);
  const refs = ['a', 'b', 'c', 'd'];
  refs.forEach((ref, n) => relay.received(app, eventFrame(ref, `portal:t${n}`)));
  await until(() => answers(app.frames).length === refs.length);
  // each goes straight to the agent, so none waits in the queue
  expect(answers(app.frames)).toEqual(refs.map((ref) => `accepted ${ref}`));
  await until(() => agent.frames.filter((f) => f.type === 'event').length === refs.length);
  await relay.drain();
});
