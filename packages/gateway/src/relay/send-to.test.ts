import { deliveredEventId, memoryBackend, openAgentAndApp, relayOn, until } from '../testing/in-process';

// send-to.ts: one function per routing rule, for the local path and the bus handler alike. The
// rule that a token never follows its event's final once held only for tokens that came through
// the bus; here the app's socket is on the agent's node, and says it was written the final (as a
// final decided on this node, overtaking the token, would leave it).

test('a token for an app socket that was written the event’s final is dropped on the local path too', async () => {
  const backend = memoryBackend();
  const { relay, metrics } = relayOn(backend);
  try {
    const { agent, app } = await openAgentAndApp(relay);
    const eventId = await deliveredEventId(relay, app, agent, 'portal:t1');
    const dropped = async () =>
      (await metrics.tokensDropped.get()).values.find((v) => v.labels.reason === 'after_final')?.value ?? 0;

    relay.received(agent, JSON.stringify({ type: 'token', event_id: eventId, token: 'before' }));
    await until(() => app.frames.some((f) => f.type === 'token'));
    app.hasSentFinal = (id) => id === eventId;
    relay.received(agent, JSON.stringify({ type: 'token', event_id: eventId, token: 'after' }));
    // handled after the token, in order: once the reply is out, the token has been decided on
    relay.received(agent, JSON.stringify({ type: 'reply', event_id: eventId, content: 'done', finish_reason: 'stop' }));
    await until(() => app.frames.some((f) => f.type === 'reply'));

    expect(app.frames.filter((f) => f.type === 'token').map((f) => f.token)).toEqual(['before']);
    expect(await dropped()).toBe(1);
  } finally {
    await relay.drain();
    await backend.close();
  }
});
