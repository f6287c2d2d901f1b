import { memoryBackend, openAgentAndApp, relayOn, until, wait } from '../testing/in-process';

// The queue assigns an event, then the backend fails before the event is written to its agent
// (Redis went away between the two commands). The assignment stands in the queue, so nothing
// would ever send the event: the node must owe it, and write it once the backend is back.

test('an event assigned while the backend fails is written to its agent once the backend is ready', async () => {
  const backend = memoryBackend();
  // The store goes down right after the event is recorded and queued: reading it back to
  // write it to the agent fails, as does everything else, until it is back.
  let down = false;
  const get = backend.events.get.bind(backend.events);
  backend.events.get = async (id) => {
    if (down) throw new Error('store unavailable');
    return get(id);
  };
  const enqueue = backend.queue.enqueue.bind(backend.queue);
  backend.queue.enqueue = async (entry) => {
    const result = await enqueue(entry);
    down = true;
    return result;
  };
  const ready = backend.ready.bind(backend);
  backend.ready = () => !down && ready();

  // owed steps are retried every third of the node TTL: every 100 ms here
  const { relay, metrics } = relayOn(backend, { nodeTtlMs: 300 });
  try {
    const { agent, app } = await openAgentAndApp(relay);

    relay.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:t1', payload: { n: 1 }, ref: 'e1' }));
    await until(() => app.frames.length > 0);
    const accepted = app.frames[0] as { type: string; event_id: string };
    expect(accepted).toMatchObject({ type: 'accepted', ref: 'e1', queued: false });

    // the delivery failed and is owed: nothing reaches the agent, and the app gets no error
    await wait(300);
    expect(agent.frames).toEqual([]);
    expect(app.frames).toHaveLength(1);
    expect((await metrics.backgroundErrors.get()).values).toEqual(
      expect.arrayContaining([expect.objectContaining({ labels: { task: 'deliver' } })]),
    );

    down = false;
    await until(() => agent.frames.length > 0);
    expect(agent.frames).toEqual([expect.objectContaining({ type: 'event', event_id: accepted.event_id, attempt: 1 })]);

    // and it is the agent's like any other: its reply reaches the app
    relay.received(agent, JSON.stringify({ type: 'reply', event_id: accepted.event_id, content: 'ok', finish_reason: 'stop' }));
    await until(() => app.frames.length > 1);
    expect(app.frames[1]).toMatchObject({ type: 'reply', event_id: accepted.event_id, content: 'ok' });
  } finally {
    down = false;
    await relay.drain();
    await backend.close();
  }
});
