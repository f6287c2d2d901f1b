/**
 * The app client against a real gateway process: streaming, discover, typed errors matched by
 * ref, checks made before sending, finals that reach a client that holds no handle for them, and
 * a resend's handle that gets the whole stream of an event that ended elsewhere.
 */
import { createAgentClient, createAppClient, ErrorCode, RelayError, type AgentClient, type AppClient } from '@relay/sdk';
import { backendsUnderTest } from '../support/backends';
import { useRelay } from '../support/relay-fixture';
import { recordingWebSocket } from './support/recording-socket';
import { FAST, gate, until } from './support/sdk-helpers';

describe.each(backendsUnderTest())('app client ($name backend)', (backend) => {
  const suite = useRelay(backend, { registry: { apps: { flow: { hard_rate_limit_per_min: 1, rate_limit_per_min: 1 } } } });
  const clients: (AppClient | AgentClient)[] = [];
  const app = (token = suite.tokens.portal, extra: Partial<Parameters<typeof createAppClient>[0]> = {}) => {
    const client = createAppClient({ url: suite.relay.url, token, ...FAST, ...extra });
    clients.push(client);
    return client;
  };
  const agent = (token = suite.tokens.athena) => {
    const client = createAgentClient({ url: suite.relay.url, token, ...FAST });
    clients.push(client);
    return client;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  test('send resolves on accepted; tokens stream in order; reply carries the whole answer', async () => {
    const words = ['Fifty', ' tokens', ' in', ' order', '!'];
    const athena = agent().onEvent(async (_event, reply) => {
      for (const word of words) reply.token(word);
      return reply.done(words.join(''), { metadata: { model: 'fake' } });
    });
    await athena.opened();
    const portal = app();
    const handle = await portal.send('athena', 'portal:task-1:c-1', { question: 'why?', n: 1 });
    expect(handle.eventId).toMatch(/^evt_/);
    expect(handle.accepted).toMatchObject({ session_key: 'relay:athena:portal:task-1', queued: false });
    const streamed: { text: string; seq: number; attempt: number }[] = [];
    for await (const token of handle.tokens) streamed.push(token);
    expect(streamed).toEqual(words.map((text, seq) => ({ text, seq, attempt: 1 })));
    const reply = await handle.reply;
    expect(reply).toMatchObject({
      event_id: handle.eventId,
      content: words.join(''),
      finish_reason: 'stop',
      payload: { question: 'why?', n: 1 },
      metadata: { model: 'fake', tokens_used: words.length },
    });
    // a second iteration replays every token
    const again: string[] = [];
    for await (const token of handle.tokens) again.push(token.text);
    expect(again).toEqual(words);
  });

  test('discover lists the allowlisted agents with live status', async () => {
    const athena = agent();
    await athena.opened();
    const agents = await app().discover();
    expect(agents.map((a) => [a.id, a.status]).sort()).toEqual([
      ['athena', 'online'],
      ['klyve', 'offline'],
    ]);
  });

  test('answers are matched by ref: a refusal rejects its own send, the others resolve', async () => {
    const portal = app();
    const results = await Promise.allSettled([
      portal.send('nobody', 'portal:t-1', {}),
      portal.send('klyve', 'portal:t-2', { n: 2 }),
      app(suite.tokens.flow).send('klyve', 'flow:t-3', {}), // flow is not allowlisted for klyve
      portal.send('athena', 'portal:t-4', { n: 4 }),
    ]);
    const [notFound, klyve, denied, athena] = results;
    expect(notFound).toMatchObject({ status: 'rejected', reason: { code: 'AGENT_NOT_FOUND', retryable: false } });
    expect((notFound as PromiseRejectedResult).reason).toBeInstanceOf(RelayError);
    expect(denied).toMatchObject({ status: 'rejected', reason: { code: 'ALLOWLIST_DENIED', retryable: false } });
    expect(klyve).toMatchObject({ status: 'fulfilled', value: { accepted: { agent_id: 'klyve', thread_id: 'portal:t-2', queued: true } } });
    expect(athena).toMatchObject({ status: 'fulfilled', value: { accepted: { agent_id: 'athena', thread_id: 'portal:t-4' } } });
  });

  test('RATE_LIMITED rejects with retryable: true', async () => {
    const flow = app(suite.tokens.flow);
    await flow.send('athena', 'flow:t-1', {});
    const error = await flow.send('athena', 'flow:t-2', {}).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: ErrorCode.RATE_LIMITED, retryable: true });
  });

  test('a bad event is refused before it is sent: INVALID_MESSAGE with details, PAYLOAD_TOO_LARGE', async () => {
    const recording = recordingWebSocket();
    const portal = app(suite.tokens.portal, { WebSocket: recording.WebSocket });
    await portal.opened();
    const invalid = await portal.send('Not An Id', 'portal:t', {}).catch((err: unknown) => err);
    expect(invalid).toMatchObject({ code: 'INVALID_MESSAGE', details: [{ path: 'agent_id' }] });
    const big = await portal.send('athena', 'portal:t', { text: 'x'.repeat(64_000) }).catch((err: unknown) => err);
    expect(big).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const missing = await portal.send('athena', 'portal:t', undefined).catch((err: unknown) => err);
    expect(missing).toMatchObject({ code: 'INVALID_MESSAGE', details: [{ path: 'payload' }] });
    expect(await portal.discover()).toHaveLength(2);
    expect(recording.received.filter((f) => f.type === 'error')).toEqual([]); // the relay saw none of them
  });

  test('an agent handler that throws: the app gets a reply with finish_reason "error" and the message', async () => {
    const errors: { eventId: string; error: unknown }[] = [];
    const athena = agent().onEvent(() => {
      throw new Error('model unavailable');
    });
    athena.on('handlerError', ({ event, error }) => errors.push({ eventId: event.event_id, error }));
    await athena.opened();
    const handle = await app().send('athena', 'portal:t-err', {});
    await expect(handle.reply).resolves.toMatchObject({ finish_reason: 'error', content: null, error: 'model unavailable' });
    // (events queued for athena by earlier tests may fail here too: only this one counts)
    expect(errors.filter((e) => e.eventId === handle.eventId)).toEqual([{ eventId: handle.eventId, error: new Error('model unavailable') }]);
  });

  test("a final for an event sent by a client that went away reaches another client of the app as 'orphan', once", async () => {
    const release = gate();
    const athena = agent().onEvent(async (_e, reply) => {
      await release.promise;
      return reply.done('late answer');
    });
    await athena.opened();
    const first = app();
    const handle = await first.send('athena', 'portal:t-orphan', {});
    await first.close();
    await expect(handle.reply).rejects.toMatchObject({ code: 'CLOSED' });

    const orphans: unknown[] = [];
    const second = app();
    second.on('orphan', (o) => orphans.push(o));
    await second.opened();
    release.open();
    const ours = () => orphans.filter((o) => (o as { eventId: string }).eventId === handle.eventId);
    await until(() => ours().length > 0, 5_000, 'the orphan final');
    await new Promise((resolve) => setTimeout(resolve, 100)); // a duplicate would arrive meanwhile
    expect(ours()).toEqual([{ eventId: handle.eventId, ok: true, reply: expect.objectContaining({ content: 'late answer' }) }]);
  });

  test('a send again with the key of an event that streamed to another client and ended: its handle yields the whole stream, then the reply', async () => {
    const words = ['streamed', ' elsewhere'];
    const athena = agent().onEvent(async (_e, reply) => {
      for (const word of words) reply.token(word);
      return reply.done(words.join(''));
    });
    await athena.opened();
    // The first try, from another process of the app (or one refused RELAY_UNAVAILABLE after
    // the relay recorded it, its stream going to another connection)
    const first = await app().send('athena', 'portal:t-retried', {}, { idempotencyKey: 'comment-7' });
    await first.reply;

    const retried = await app().send('athena', 'portal:t-retried', {}, { idempotencyKey: 'comment-7' });
    expect(retried.eventId).toBe(first.eventId);
    const streamed: string[] = [];
    for await (const token of retried.tokens) streamed.push(`${token.attempt}.${token.seq} ${token.text}`);
    expect(streamed).toEqual(['1.0 streamed', '1.1  elsewhere']);
    await expect(retried.reply).resolves.toMatchObject({ content: words.join('') });
  });
});
