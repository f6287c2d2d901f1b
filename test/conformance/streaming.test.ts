import { backendsUnderTest } from '../support/backends';
import { eventFrame } from '../support/client';
import { useRelay } from '../support/relay-fixture';

describe.each(backendsUnderTest())('streaming a reply ($name backend)', (backend) => {
  // debug: the per-event lines are the ones that name events, and must not carry their payloads
  const r = useRelay(backend, { env: { LOG_LEVEL: 'debug' } });

  test('app event → agent tokens in order → one final reply with both answer fields', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
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
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const marker = `payload-marker-${Date.now()}`;
    app.send(eventFrame({ payload: { secret_text: marker } }));
    const accepted = await app.nextOf('accepted');
    const event = await agent.nextOf('event', accepted.event_id);
    agent.send({ type: 'reply', event_id: event.event_id, content: `echo ${marker}`, finish_reason: 'stop' });
    await app.nextOf('reply', accepted.event_id);
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the log lines reach the pipe
    const log = r.relay.output();
    expect(log).toContain(accepted.event_id);
    expect(log).not.toContain(marker);
    for (const token of Object.values(r.tokens)) expect(log).not.toContain(token.split('_').pop());
  });
});
