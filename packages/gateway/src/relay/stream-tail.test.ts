import type { Backend, BusMessage } from '../ports';
import type { Metrics } from './metrics';
import type { Relay } from './relay';
import { fakeConnection, memoryBackend, openAgentAndApp, relayOn, until, wait, type FakeConnection } from '../testing/in-process';

// Issue 15: the tokens an app connection is written before an event's final must be the whole
// recorded stream of its current attempt, whatever became of their live frames on the way. Two
// nodes share one memory backend (n1 holds the agent socket); the bus between them is made to
// lose what a Redis outage or a slow switch loses, on cue.

/** Two nodes; the agent socket (n1.1) and a first app socket (n1.2) on n1. */
async function twoNodes(dropIf: (message: BusMessage) => boolean, tweak: (backend: Backend) => void = () => {}) {
  const backend = memoryBackend();
  tweak(backend);
  // records by value, as Redis gives them: a node's in-flight copy does not follow the store
  const get = backend.events.get.bind(backend.events);
  backend.events.get = async (eventId) => {
    const record = await get(eventId);
    return record && { ...record };
  };
  const publish = backend.bus.publish.bind(backend.bus);
  backend.bus.publish = async (nodeId, message) => {
    if (!dropIf(message)) await publish(nodeId, message);
  };
  const n1 = relayOn(backend, { nodeTtlMs: 300 }, 'n1');
  const n2 = relayOn(backend, { nodeTtlMs: 300 }, 'n2');
  const { agent, app } = await openAgentAndApp(n1.relay);
  const metrics = n2.metrics;
  const stop = async () => {
    await n2.relay.drain();
    await n1.relay.drain();
    await backend.close();
  };
  return { n1: n1.relay, n2: n2.relay, agent, app, metrics, stop };
}

const tokensOf = (frames: Record<string, unknown>[], eventId: string) =>
  frames.filter((f) => f.type === 'token' && f.event_id === eventId).map((f) => [f.attempt, f.seq, f.token]);

test('a resume whose switch never reached the agent’s node: the live tail comes from the record, before the final', async () => {
  // the holder never hears of the resume, as when its switch is lost or outlasts a node TTL
  const { n1, n2, agent, app, stop } = await twoNodes((m) => m.kind === 'app-moved');
  try {
    n1.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:seam', payload: {} }));
    await until(() => agent.frames.some((f) => f.type === 'event'));
    const id = agent.frames.find((f) => f.type === 'event')?.event_id as string;
    const token = (t: string) => n1.received(agent, JSON.stringify({ type: 'token', event_id: id, token: t }));
    ['a', 'b', 'c'].forEach(token);
    await until(() => tokensOf(app.frames, id).length === 3);

    const second = fakeConnection('n2.1', 'app', 'portal');
    n2.opened(second);
    n2.received(second, JSON.stringify({ type: 'resume', event_id: id, attempt: 1, after_seq: 0 }));
    await until(() => second.frames.some((f) => f.type === 'resumed'));
    // sent right after `resumed`, right before the reply (the conformance test's burst)
    ['d', 'e'].forEach(token);
    n1.received(agent, JSON.stringify({ type: 'reply', event_id: id, content: 'abcde', finish_reason: 'stop' }));
    await until(() => second.frames.some((f) => f.type === 'reply'));

    expect(tokensOf(second.frames, id)).toEqual([
      [1, 1, 'b'],
      [1, 2, 'c'],
      [1, 3, 'd'],
      [1, 4, 'e'],
    ]);
    expect(second.frames.filter((f) => f.event_id === id).at(-1)).toMatchObject({ type: 'reply', content: 'abcde' });
  } finally {
    await stop();
  }
});

test('live token frames lost between nodes (the bus failed while Redis was down): the tail comes from the record, before the final', async () => {
  const { n1, n2, agent, stop } = await twoNodes((m) => m.kind === 'app-token' && m.seq >= 2);
  try {
    const app = fakeConnection('n2.1', 'app', 'portal');
    n2.opened(app);
    n2.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:lost', payload: {} }));
    await until(() => agent.frames.some((f) => f.type === 'event'));
    const id = agent.frames.find((f) => f.type === 'event')?.event_id as string;
    for (const t of ['a', 'b', 'c', 'd']) n1.received(agent, JSON.stringify({ type: 'token', event_id: id, token: t }));
    n1.received(agent, JSON.stringify({ type: 'reply', event_id: id, content: 'abcd', finish_reason: 'stop' }));
    await until(() => app.frames.some((f) => f.type === 'reply'));

    expect(tokensOf(app.frames, id)).toEqual([
      [1, 0, 'a'],
      [1, 1, 'b'],
      [1, 2, 'c'],
      [1, 3, 'd'],
    ]);
    expect(app.frames.filter((f) => f.event_id === id).map((f) => f.type)).toEqual(['accepted', 'token', 'token', 'token', 'token', 'reply']);
  } finally {
    await stop();
  }
});

/** An app socket on n2 sends an event to the agent on n1; returns the event id and a way to stream tokens. */
async function eventFromN2(n1: Relay, n2: Relay, agent: FakeConnection) {
  const app = fakeConnection('n2.1', 'app', 'portal');
  n2.opened(app);
  n2.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:gap', payload: {} }));
  await until(() => agent.frames.some((f) => f.type === 'event'));
  const id = agent.frames.find((f) => f.type === 'event')?.event_id as string;
  const token = (t: string) => n1.received(agent, JSON.stringify({ type: 'token', event_id: id, token: t }));
  return { app, id, token };
}

/** Makes the backend's stream reads fail (Redis is down) while `down()` holds. */
const failReadsWhile = (down: () => boolean) => (backend: Backend) => {
  const read = backend.streams.read.bind(backend.streams);
  backend.streams.read = async (...args) => {
    if (down()) throw new Error('Redis is down');
    return read(...args);
  };
};

const counted = async (metrics: Metrics, name: string, labels = '') =>
  Number((await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name}${labels} `))?.split(' ')[1] ?? 0);

test.each([
  ['in the middle of a stream', (m: BusMessage) => m.kind === 'app-token' && m.seq === 1],
  ['at the start of a stream', (m: BusMessage) => m.kind === 'app-token' && m.seq === 0],
])('live token frames lost between nodes %s, later ones arriving: the gap is read from the record, in order, before the later ones and before any final', async (_, lost) => {
  const { n1, n2, agent, metrics, stop } = await twoNodes(lost);
  try {
    const { app, id, token } = await eventFromN2(n1, n2, agent);
    ['a', 'b', 'c', 'd'].forEach(token);
    await until(() => tokensOf(app.frames, id).length === 4);
    expect(tokensOf(app.frames, id)).toEqual([
      [1, 0, 'a'],
      [1, 1, 'b'],
      [1, 2, 'c'],
      [1, 3, 'd'],
    ]);
    expect(app.frames.some((f) => f.type === 'reply')).toBe(false);
    expect(await counted(metrics, 'relay_tokens_refilled_total')).toBe(1);
  } finally {
    await stop();
  }
});

test('a gap whose tokens the record has not caught up with yet: the later tokens wait for it, not go out ahead', async () => {
  let lagging = 3; // the gap is not in the record for the first few reads, as when its batch is still being written
  const { n1, n2, agent, stop } = await twoNodes(
    (m) => m.kind === 'app-token' && m.seq === 1,
    (backend) => {
      const read = backend.streams.read.bind(backend.streams);
      backend.streams.read = async (...args) => (lagging-- > 0 ? [] : read(...args));
    },
  );
  try {
    const { app, id, token } = await eventFromN2(n1, n2, agent);
    ['a', 'b', 'c'].forEach(token);
    await until(() => tokensOf(app.frames, id).length === 3);
    expect(lagging).toBeLessThan(0);
    expect(tokensOf(app.frames, id)).toEqual([
      [1, 0, 'a'],
      [1, 1, 'b'],
      [1, 2, 'c'],
    ]);
  } finally {
    await stop();
  }
});

test('a gap never recorded (the store down past two node TTLs): the later tokens go out after it, the lost ones counted, and the final still checks the record', async () => {
  let storeDown = true;
  const { n1, n2, agent, metrics, stop } = await twoNodes(
    (m) => m.kind === 'app-token' && m.seq === 1,
    failReadsWhile(() => storeDown),
  );
  try {
    const { app, id, token } = await eventFromN2(n1, n2, agent);
    ['a', 'b', 'c'].forEach(token);
    await until(() => tokensOf(app.frames, id).length === 2);
    expect(tokensOf(app.frames, id)).toEqual([
      [1, 0, 'a'],
      [1, 2, 'c'],
    ]);
    expect(await counted(metrics, 'relay_tokens_dropped_total', '{reason="lost"}')).toBe(1);
    storeDown = false;
    token('d');
    n1.received(agent, JSON.stringify({ type: 'reply', event_id: id, content: 'abcd', finish_reason: 'stop' }));
    await until(() => app.frames.some((f) => f.type === 'reply'));
    expect(tokensOf(app.frames, id)).toEqual([
      [1, 0, 'a'],
      [1, 2, 'c'],
      [1, 3, 'd'],
    ]);
  } finally {
    await stop();
  }
});

test('the final arriving while a gap is awaited: the gap and the rest come from the record, then the final', async () => {
  // the record unreadable until the final is on its way, so the gap is still awaited when it lands
  let storeDown = true;
  const { n1, n2, agent, stop } = await twoNodes(
    (m) => {
      if (m.kind === 'app-final') storeDown = false;
      return m.kind === 'app-token' && m.seq === 1;
    },
    failReadsWhile(() => storeDown),
  );
  try {
    const { app, id, token } = await eventFromN2(n1, n2, agent);
    ['a', 'b', 'c'].forEach(token);
    await until(() => tokensOf(app.frames, id).length === 1);
    await wait(50);
    expect(tokensOf(app.frames, id)).toEqual([[1, 0, 'a']]);
    n1.received(agent, JSON.stringify({ type: 'reply', event_id: id, content: 'abc', finish_reason: 'stop' }));
    await until(() => app.frames.some((f) => f.type === 'reply'));
    expect(tokensOf(app.frames, id)).toEqual([
      [1, 0, 'a'],
      [1, 1, 'b'],
      [1, 2, 'c'],
    ]);
    expect(app.frames.filter((f) => f.event_id === id).at(-1)).toMatchObject({ type: 'reply', content: 'abc' });
  } finally {
    await stop();
  }
});

test.each([
  ['another connection of the app', true],
  ['the outbox, emptied into the app’s next connection', false],
])('a final whose connection closed goes to %s, preceded by its attempt’s recorded tokens', async (_, otherOpen) => {
  const { n1, n2, agent, app: first, stop } = await twoNodes(() => false);
  try {
    const { app, id, token } = await eventFromN2(n1, n2, agent);
    ['a', 'b'].forEach(token);
    await until(() => tokensOf(app.frames, id).length === 2);
    if (!otherOpen) n1.closed(first, []);
    n2.closed(app, []);
    ['c', 'd'].forEach(token);
    n1.received(agent, JSON.stringify({ type: 'reply', event_id: id, content: 'abcd', finish_reason: 'stop' }));
    let other = first;
    if (!otherOpen) {
      await wait(100);
      other = fakeConnection('n2.2', 'app', 'portal');
      n2.opened(other);
    }
    await until(() => other.frames.some((f) => f.type === 'reply'));
    expect(tokensOf(other.frames, id)).toEqual([
      [1, 0, 'a'],
      [1, 1, 'b'],
      [1, 2, 'c'],
      [1, 3, 'd'],
    ]);
    expect(other.frames.filter((f) => f.event_id === id).at(-1)).toMatchObject({ type: 'reply', content: 'abcd' });
  } finally {
    await stop();
  }
});
