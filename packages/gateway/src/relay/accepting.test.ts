import { fakeConnection, memoryBackendPerTest, openAgentAndApp, relayOn, until, wait } from '../testing/in-process';

// An event queued while its agent is full is given to the agent by an earlier event's reply,
// which may come (on any node) while the event's own accept still waits on the store (WAIT for
// replicas, a slow command). The agent's tokens and reply for it must still follow its `accepted`.

const memoryBackend = memoryBackendPerTest();

/**
 * Two events on one thread to an agent with room for one; the second's accept stalls after it is
 * queued, before `accepted`, until `release`. The first's reply then gives the second to the agent.
 */
async function secondAcceptStalled(thread: string) {
  const backend = memoryBackend();
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => (release = resolve));
  const at = backend.scheduler.at.bind(backend.scheduler);
  let expiries = 0;
  backend.scheduler.at = async (time, task) => {
    if (task.kind === 'expire' && ++expiries === 2) await stalled;
    return at(time, task);
  };
  await backend.registry.updateAgent('athena', { maxInFlight: 1 }); // the second event waits
  const { relay } = relayOn(backend);
  const { agent, app } = await openAgentAndApp(relay);
  const send = (ref: string) => relay.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: thread, payload: {}, ref }));
  send('a');
  await until(() => agent.frames.some((f) => f.type === 'event'));
  const first = agent.frames.find((f) => f.type === 'event') as { event_id: string };
  send('b');
  await until(() => expiries === 2);
  // the first event's reply frees the place: the second goes to the agent
  relay.received(agent, JSON.stringify({ type: 'reply', event_id: first.event_id, content: 'one', finish_reason: 'stop' }));
  await until(() => agent.frames.filter((f) => f.type === 'event').length === 2);
  const second = (agent.frames.filter((f) => f.type === 'event')[1] as { event_id: string }).event_id;
  return { relay, agent, app, second, release };
}

test("a queued event delivered before its accept finished: its tokens and reply follow its accepted frame", async () => {
  const { relay, agent, app, second, release } = await secondAcceptStalled('portal:t1');
  try {
    relay.received(agent, JSON.stringify({ type: 'token', event_id: second, token: 'tw' }));
    relay.received(agent, JSON.stringify({ type: 'reply', event_id: second, content: 'two', finish_reason: 'stop' }));
    await wait(100);
    expect(app.frames.filter((f) => f.event_id === second)).toEqual([]); // nothing before its id

    release();
    await until(() => app.frames.some((f) => f.type === 'reply' && f.event_id === second));
    expect(app.frames.filter((f) => f.event_id === second).map((f) => f.type)).toEqual(['accepted', 'token', 'reply']);
  } finally {
    release();
    await relay.drain();
  }
});

// Its final waited for `accepted` on that socket, and the socket closed first: the final goes on
// as from any connection that is gone, as it would had it come a moment later.
test('a final that waited for its accepted frame on a socket that closed meanwhile goes to another connection of the app', async () => {
  const { relay, agent, app, second, release } = await secondAcceptStalled('portal:t3');
  try {
    relay.received(agent, JSON.stringify({ type: 'reply', event_id: second, content: 'two', finish_reason: 'stop' }));
    await wait(100);
    relay.closed(app, []);
    const other = fakeConnection('n1.3', 'app', 'portal');
    relay.opened(other);
    await wait(50);
    release();
    await until(() => other.frames.some((f) => f.type === 'reply' && f.event_id === second));
    await wait(100);
    expect(other.frames.filter((f) => f.event_id === second).map((f) => f.content)).toEqual(['two']);
    expect(app.frames.filter((f) => f.type === 'reply' && f.event_id === second)).toEqual([]);
  } finally {
    release();
    await relay.drain();
  }
});

test('a resend on a new socket while its requeue waits on the store: the tokens and reply pointed at that socket follow its accepted frame', async () => {
  const backend = memoryBackend();
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => (release = resolve));
  const enqueue = backend.queue.enqueue.bind(backend.queue);
  let enqueues = 0;
  backend.queue.enqueue = async (item) => {
    // the resend's requeue stalls (WAIT for replicas in a failover), after its stream was pointed here
    if (++enqueues === 2) await stalled;
    return enqueue(item);
  };
  const { relay } = relayOn(backend);
  try {
    const { agent, app } = await openAgentAndApp(relay);
    const event = JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:t2', payload: {}, idempotency_key: 'k1', ref: 'a' });
    relay.received(app, event);
    await until(() => agent.frames.some((f) => f.type === 'event'));
    const id = (agent.frames.find((f) => f.type === 'event') as { event_id: string }).event_id;

    // the app lost its socket before `accepted` reached it, and resends on a new one
    const again = fakeConnection('n1.3', 'app', 'portal');
    relay.opened(again);
    relay.received(again, event);
    await until(() => enqueues === 2);
    relay.received(agent, JSON.stringify({ type: 'token', event_id: id, token: 'x' }));
    relay.received(agent, JSON.stringify({ type: 'reply', event_id: id, content: 'x', finish_reason: 'stop' }));
    await wait(100);
    expect(again.frames.filter((f) => f.event_id === id)).toEqual([]); // nothing before its id

    release();
    await until(() => again.frames.some((f) => f.type === 'reply' && f.event_id === id));
    expect(again.frames.filter((f) => f.event_id === id).map((f) => f.type)).toEqual(['accepted', 'token', 'reply']);
  } finally {
    release();
    await relay.drain();
  }
});
