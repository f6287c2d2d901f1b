import { deliveredEventId, memoryBackend, openAgentAndApp, relayOn, until } from '../testing/in-process';

// finals.ts: a final for an app socket open on this node is written to it without asking the
// presence lists where that socket is (a Redis round trip per event on the Redis backend).

test('a final for an app socket on this node is written without a presence lookup', async () => {
  const backend = memoryBackend();
  const looked: string[] = [];
  const get = backend.presence.get.bind(backend.presence);
  backend.presence.get = async (connId) => {
    looked.push(connId);
    return get(connId);
  };
  const { relay } = relayOn(backend);
  try {
    const { agent, app } = await openAgentAndApp(relay);
    const eventId = await deliveredEventId(relay, app, agent, 'portal:t1');
    relay.received(agent, JSON.stringify({ type: 'reply', event_id: eventId, content: 'done', finish_reason: 'stop' }));
    await until(() => app.frames.some((f) => f.type === 'reply'));
    expect(app.frames.filter((f) => f.type === 'reply')).toEqual([expect.objectContaining({ event_id: eventId, content: 'done' })]);
    expect(looked).not.toContain(app.id);
  } finally {
    await relay.drain();
    await backend.close();
  }
});
