import { backendsUnderTest } from '../support/backends';
import { TestClient, eventFrame } from '../support/client';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

describe.each(backendsUnderTest())('streaming a reply ($name backend)', (backend) => {
  let relay: RelayProcess;
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];
  const connect = async (...args: Parameters<typeof TestClient.connect>) => {
    const client = await TestClient.connect(...args);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    relay = await startRelay({ registry, env: await backend.env() });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    expect(await relay.stop()).toBe(0);
    await backend.teardown();
  });

  test('app event → agent tokens in order → one final reply with both answer fields', async () => {
    const agent = await connect(relay.url, 'agent', tokens.athena);
    const app = await connect(relay.url, 'app', tokens.portal);
    app.send(eventFrame({ ref: 'r-1' }));
    const accepted = await app.nextOf('accepted');
    expect(accepted).toMatchObject({ ref: 'r-1', queued: false, session_key: 'relay:athena:portal:task-123' });

    const event = await agent.nextOf('event', accepted.event_id);
    expect(event).toMatchObject({ attempt: 1, app_id: 'portal', payload: { event: 'comment.mention', task_id: 'task-123' } });
    const text = 'Fifty tokens, one character at a time, in order!!';
    for (const ch of text) agent.send({ type: 'token', event_id: event.event_id, token: ch });
    agent.send({ type: 'reply', event_id: event.event_id, content: text, finish_reason: 'stop' });

    let streamed = '';
    for (let seq = 0; seq < text.length; seq++) {
      const token = await app.nextOf('token', event.event_id);
      expect(token.seq).toBe(seq);
      streamed += token.token;
    }
    expect(streamed).toBe(text);
    const reply = await app.nextOf('reply', event.event_id);
    expect(reply).toMatchObject({
      content: text,
      reply: text,
      finish_reason: 'stop',
      payload: { event: 'comment.mention', task_id: 'task-123' },
      metadata: { tokens_used: text.length },
    });
    expect(await app.quiet(100)).toEqual([]);
    expect(app.invalid).toEqual([]);
    expect(agent.invalid).toEqual([]);
  });

  test('logs name the event but never carry its payload or a token secret', async () => {
    const agent = await connect(relay.url, 'agent', tokens.athena);
    const app = await connect(relay.url, 'app', tokens.portal);
    const marker = `payload-marker-${Date.now()}`;
    app.send(eventFrame({ payload: { secret_text: marker } }));
    const accepted = await app.nextOf('accepted');
    const event = await agent.nextOf('event', accepted.event_id);
    agent.send({ type: 'reply', event_id: event.event_id, content: `echo ${marker}`, finish_reason: 'stop' });
    await app.nextOf('reply', accepted.event_id);
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the log lines reach the pipe
    const log = relay.output();
    expect(log).toContain(accepted.event_id);
    expect(log).not.toContain(marker);
    for (const token of Object.values(tokens)) expect(log).not.toContain(token.split('_').pop());
  });
});
