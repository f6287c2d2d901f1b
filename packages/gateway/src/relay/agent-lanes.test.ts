import { deliveredEventId, memoryBackend, openAgentAndApp, relayOn, until, wait } from '../testing/in-process';

// Issue 19 item 1: an agent's reply is settled by several store steps (finish, the expiry's
// cancel, the queue's remove and dispatch). While they wait, the agent's tokens for its other
// events must not: only the rest of the replied event waits behind them. The store is held here
// at the reply's first step until the test lets it go (test/redis/agent-lanes.test.ts does the
// same on Redis with CLIENT PAUSE).

test('a token for event Y is relayed while the reply to X waits on the store; X keeps its order', async () => {
  const backend = memoryBackend();
  const { relay } = relayOn(backend);
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let settling = 0;
  const finish = backend.events.finish.bind(backend.events);
  backend.events.finish = async (...args) => {
    settling += 1;
    await held;
    return finish(...args);
  };
  try {
    const { agent, app } = await openAgentAndApp(relay);
    const send = (frame: Record<string, unknown>) => relay.received(agent, JSON.stringify(frame));
    const ids: string[] = [];
    for (const thread of ['x', 'y']) ids.push(await deliveredEventId(relay, app, agent, `portal:${thread}`));
    const [x, y] = ids as [string, string];
    const ofApp = (type: string, eventId: string) => app.frames.filter((f) => f.type === type && f.event_id === eventId);

    send({ type: 'token', event_id: x, token: 'x0' });
    send({ type: 'reply', event_id: x, content: 'x done', finish_reason: 'stop' });
    send({ type: 'token', event_id: x, token: 'x after its reply', ref: 'late' });
    send({ type: 'token', event_id: y, token: 'y0' });

    await until(() => ofApp('token', y).length === 1);
    expect(settling).toBe(1); // X's reply is still waiting on the store
    expect(ofApp('reply', x)).toEqual([]);
    expect(ofApp('token', x).map((f) => f.token)).toEqual(['x0']);
    // X's own later frame waits behind its reply, so it is refused once the reply is taken
    expect(agent.frames.filter((f) => f.ref === 'late')).toEqual([]);

    release();
    await until(() => ofApp('reply', x).length === 1);
    await until(() => agent.frames.some((f) => f.ref === 'late'));
    expect(agent.frames.find((f) => f.ref === 'late')).toMatchObject({ type: 'error', code: 'UNKNOWN_EVENT', event_id: x });
    expect(app.frames.filter((f) => f.event_id === x).map((f) => f.type)).toEqual(['accepted', 'token', 'reply']);

    send({ type: 'reply', event_id: y, content: 'y done', finish_reason: 'stop' });
    await until(() => ofApp('reply', y).length === 1);
    await wait(20);
    expect(app.frames.filter((f) => f.event_id === y).map((f) => f.type)).toEqual(['accepted', 'token', 'reply']);
  } finally {
    release();
    await relay.drain();
    await backend.close();
  }
});

test('a socket’s opening work still comes before its frames of any event', async () => {
  const backend = memoryBackend();
  const { relay } = relayOn(backend);
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const attach = backend.queue.attach.bind(backend.queue);
  backend.queue.attach = async (...args) => {
    await held;
    return attach(...args);
  };
  try {
    const { agent } = await openAgentAndApp(relay);
    relay.received(agent, JSON.stringify({ type: 'token', event_id: 'evt_0nobody', token: 't', ref: 'early' }));
    await wait(50);
    expect(agent.frames).toEqual([]); // the attach is still waiting
    release();
    await until(() => agent.frames.length === 1);
    expect(agent.frames[0]).toMatchObject({ type: 'error', code: 'UNKNOWN_EVENT', ref: 'early' });
  } finally {
    release();
    await relay.drain();
    await backend.close();
  }
});
