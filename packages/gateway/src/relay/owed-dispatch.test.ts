import { fakeConnection, memoryBackend, relayOn, until, wait } from '../testing/in-process';
import type { Backend } from '../ports';

// The queue assigns an event, then the backend fails before the event is written to its agent
// (Redis went away between the two commands). The assignment stands in the queue, so nothing
// would ever send the event: the node must owe it, and write it once the backend is back.

/** A backend whose store fails once `down` is set: reading an event back fails, as does everything else. */
function failingBackend(): { backend: Backend; setDown(down: boolean): void; reads: string[] } {
  const backend = memoryBackend();
  let down = false;
  const reads: string[] = [];
  const get = backend.events.get.bind(backend.events);
  backend.events.get = async (id) => {
    reads.push(id);
    if (down) throw new Error('store unavailable');
    return get(id);
  };
  const ready = backend.ready.bind(backend);
  backend.ready = () => !down && ready();
  return { backend, reads, setDown: (d) => void (down = d) };
}

const eventFrame = JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:t1', payload: { n: 1 }, ref: 'e1' });

test('an event assigned while the backend fails is written to its agent once the backend is ready', async () => {
  const { backend, setDown } = failingBackend();
  // The store goes down right after a connecting agent is given the waiting event: reading it
  // to write it to the agent fails, as does everything else, until it is back.
  const attach = backend.queue.attach.bind(backend.queue);
  backend.queue.attach = async (agentId, slot) => {
    const result = await attach(agentId, slot);
    setDown(true);
    return result;
  };

  // owed steps are retried every third of the node TTL: every 100 ms here
  const { relay, metrics } = relayOn(backend, { nodeTtlMs: 300 });
  try {
    const app = fakeConnection('n1.2', 'app', 'portal');
    relay.opened(app);
    await wait(50);
    relay.received(app, eventFrame);
    await until(() => app.frames.length > 0);
    const accepted = app.frames[0] as { type: string; event_id: string };
    expect(accepted).toMatchObject({ type: 'accepted', ref: 'e1', queued: true });

    const agent = fakeConnection('n1.1', 'agent', 'athena');
    relay.opened(agent);
    // the delivery failed and is owed: nothing reaches the agent, and the app gets no error
    await wait(300);
    expect(agent.frames).toEqual([]);
    expect(app.frames).toHaveLength(1);
    expect((await metrics.backgroundErrors.get()).values).toEqual(
      expect.arrayContaining([expect.objectContaining({ labels: { task: 'deliver' } })]),
    );

    setDown(false);
    await until(() => agent.frames.length > 0);
    expect(agent.frames).toEqual([expect.objectContaining({ type: 'event', event_id: accepted.event_id, attempt: 1 })]);

    // and it is the agent's like any other: its reply reaches the app
    relay.received(agent, JSON.stringify({ type: 'reply', event_id: accepted.event_id, content: 'ok', finish_reason: 'stop' }));
    await until(() => app.frames.length > 1);
    expect(app.frames[1]).toMatchObject({ type: 'reply', event_id: accepted.event_id, content: 'ok' });
  } finally {
    setDown(false);
    await relay.drain();
    await backend.close();
  }
});

test('an event assigned as it is accepted goes to its agent as recorded, not read back', async () => {
  const { backend, setDown, reads } = failingBackend();
  // were it read back, the read would fail and the delivery be owed
  const enqueue = backend.queue.enqueue.bind(backend.queue);
  backend.queue.enqueue = async (entry) => {
    const result = await enqueue(entry);
    setDown(true);
    return result;
  };
  const { relay } = relayOn(backend, { nodeTtlMs: 300 });
  try {
    const agent = fakeConnection('n1.1', 'agent', 'athena');
    const app = fakeConnection('n1.2', 'app', 'portal');
    relay.opened(agent);
    relay.opened(app);
    await wait(50);
    relay.received(app, eventFrame);
    await until(() => agent.frames.length > 0);
    const accepted = app.frames[0] as { type: string; event_id: string };
    expect(accepted).toMatchObject({ type: 'accepted', queued: false });
    expect(agent.frames).toEqual([expect.objectContaining({ type: 'event', event_id: accepted.event_id, attempt: 1, payload: { n: 1 } })]);
    expect(reads).not.toContain(accepted.event_id);
  } finally {
    setDown(false);
    await relay.drain();
    await backend.close();
  }
});
