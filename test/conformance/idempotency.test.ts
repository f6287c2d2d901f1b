import { ErrorCode } from '@relay/protocol';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, type TestClient } from '../support/client';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';

describe.each(backendsUnderTest())('idempotency_key ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true });

  test('a resend with the same key answers with the same event_id and the new ref; the agent gets it once', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const first = await send(app, eventFrame({ idempotency_key: 'k-1', ref: 'first' }));
    const again = await send(app, eventFrame({ idempotency_key: 'k-1', ref: 'again' }));
    expect(first).toMatchObject({ type: 'accepted', ref: 'first', queued: false });
    expect(again).toMatchObject({ type: 'accepted', ref: 'again', event_id: first.event_id, queued: false });
    expect(again.session_key).toBe(first.session_key);

    expect(await agent.nextOf('event', first.event_id)).toMatchObject({ attempt: 1 });
    expect(await agent.quiet(200)).toEqual([]);
    agent.send({ type: 'reply', event_id: first.event_id, content: 'once', finish_reason: 'stop' });
    expect(await app.nextOf('reply', first.event_id)).toMatchObject({ content: 'once' });
    expect(await app.quiet(150)).toEqual([]);
  });

  test('a resend while the agent is offline repeats queued: true, and the agent gets the event once', async () => {
    const app = await r.connect('portal');
    const first = await send(app, eventFrame({ idempotency_key: 'k-offline' }));
    const again = await send(app, eventFrame({ idempotency_key: 'k-offline' }));
    expect(first).toMatchObject({ type: 'accepted', queued: true });
    expect(again).toMatchObject({ type: 'accepted', queued: true, event_id: first.event_id });
    const agent = await r.connect('athena');
    await agent.nextOf('event', first.event_id);
    expect(await agent.quiet(200)).toEqual([]);
  });

  test('a resend on a new connection after the first closed: same event, and its tokens and reply go there', async () => {
    const agent = await r.connect('athena');
    const lost = await r.connect('portal');
    const first = await send(lost, eventFrame({ idempotency_key: 'k-reconnect' }));
    await agent.nextOf('event', first.event_id);
    await lost.close();

    const app = await r.connect('portal');
    const seen = recordFrames(app);
    const again = await send(app, eventFrame({ idempotency_key: 'k-reconnect', ref: 'resent' }));
    expect(again).toMatchObject({ type: 'accepted', event_id: first.event_id, ref: 'resent' });
    expect(await agent.quiet(150)).toEqual([]); // not delivered a second time

    agent.send({ type: 'token', event_id: first.event_id, token: 'streamed ' });
    agent.send({ type: 'reply', event_id: first.event_id, content: 'streamed here', finish_reason: 'stop' });
    expect(await app.nextOf('token', first.event_id)).toMatchObject({ token: 'streamed ', seq: 0 });
    expect(await app.nextOf('reply', first.event_id)).toMatchObject({ content: 'streamed here' });
    await sleep(150);
    expect(finalsFor(seen, first.event_id)).toHaveLength(1);
  });

  test('a resend after the event ended answers with the same event_id, and starts nothing new', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const first = await send(app, eventFrame({ idempotency_key: 'k-done' }));
    await agent.nextOf('event', first.event_id);
    agent.send({ type: 'token', event_id: first.event_id, token: 'do' });
    agent.send({ type: 'token', event_id: first.event_id, token: 'ne' });
    agent.send({ type: 'reply', event_id: first.event_id, content: 'done', finish_reason: 'stop' });
    expect(await app.nextOf('token', first.event_id)).toMatchObject({ token: 'do', seq: 0 });
    expect(await app.nextOf('token', first.event_id)).toMatchObject({ token: 'ne', seq: 1 });
    const reply = await app.nextOf('reply', first.event_id);
    const again = await send(app, eventFrame({ idempotency_key: 'k-done' }));
    expect(again).toMatchObject({ type: 'accepted', event_id: first.event_id });
    expect(await app.quiet(100)).toEqual([]); // this connection has the stream and the final already

    // Another connection may be an app that lost the final with a node, or one whose first try
    // was refused after the relay recorded it, the stream going to another of its connections:
    // it gets the recorded tokens, then the final.
    const other = await r.connect('portal');
    const seen = recordFrames(other);
    expect(await send(other, eventFrame({ idempotency_key: 'k-done' }))).toMatchObject({ event_id: first.event_id });
    expect(await other.nextOf('token', first.event_id)).toMatchObject({ token: 'do', seq: 0, attempt: 1 });
    expect(await other.nextOf('token', first.event_id)).toMatchObject({ token: 'ne', seq: 1, attempt: 1 });
    expect(await other.nextOf('reply', first.event_id)).toEqual(reply);
    expect(seen.filter((f) => f.event_id === first.event_id).map((f) => [f.type, f.token, f.seq, f.attempt])).toEqual([
      ['accepted', undefined, undefined, undefined],
      ['token', 'do', 0, 1],
      ['token', 'ne', 1, 1],
      ['reply', undefined, undefined, undefined],
    ]);
    expect(await agent.quiet(200)).toEqual([]);
    expect(await other.quiet(100)).toEqual([]);
  });

  test('the same key from another app is another event; different keys are different events', async () => {
    const agent = await r.connect('athena');
    const portal = await r.connect('portal');
    const flow = await r.connect('flow');
    const a = await send(portal, eventFrame({ idempotency_key: 'shared' }));
    const b = await send(flow, eventFrame({ thread_id: 'flow:run-1:step-1', idempotency_key: 'shared' }));
    const c = await send(portal, eventFrame({ idempotency_key: 'other' }));
    const d = await send(portal, eventFrame()); // no key: always new
    const e = await send(portal, eventFrame());
    for (const x of [a, b, c, d, e]) expect(x).toMatchObject({ type: 'accepted' });
    expect(new Set([a, b, c, d, e].map((x) => x.event_id)).size).toBe(5);
    const got = new Set<string>();
    for (let i = 0; i < 5; i++) got.add((await agent.nextOf('event')).event_id);
    expect(got).toEqual(new Set([a, b, c, d, e].map((x) => x.event_id)));
    expect(await agent.quiet(150)).toEqual([]);
  });
});

// A resend of an event that was already accepted adds nothing to the queue and no load on the
// agent, so it must get its `accepted` again even when a new event would be refused: otherwise
// the app is told its event was not taken when it was. (PROTOCOL.md is silent; this is what a
// client retrying after a lost connection needs.)
describe.each(backendsUnderTest())('idempotent resend at the limits ($name backend)', (backend) => {
  describe('full queue', () => {
    const r = useRelay(backend, { perTest: true, registry: { agents: { athena: { max_queue: 1 } } } });

    test('a resend of a queued event is accepted again, not refused with QUEUE_FULL', async () => {
      const app = await r.connect('portal');
      const first = await send(app, eventFrame({ idempotency_key: 'k-full' }));
      expect(first).toMatchObject({ type: 'accepted', queued: true });
      expect(await send(app, eventFrame())).toMatchObject({ type: 'error', code: ErrorCode.QUEUE_FULL });
      const again = await send(app, eventFrame({ idempotency_key: 'k-full', ref: 'retry' }));
      expect(again).toMatchObject({ type: 'accepted', event_id: first.event_id, ref: 'retry' });
    });
  });

  describe('hard rate limit', () => {
    const r = useRelay(backend, {
      perTest: true,
      registry: { apps: { portal: { rate_limit_per_min: 2, hard_rate_limit_per_min: 2 } } },
      env: { RELAY_RATE_WINDOW_MS: '600000' }, // one window for the whole test
    });

    test('a resend uses none of the budget, and is accepted again even past the hard limit', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const first = await send(app, eventFrame({ idempotency_key: 'k-rate' }));
      expect(first).toMatchObject({ type: 'accepted', queued: false });
      const again = await send(app, eventFrame({ idempotency_key: 'k-rate', ref: 'retry' }));
      expect(again).toMatchObject({ type: 'accepted', event_id: first.event_id, ref: 'retry' });
      // The resend took nothing: there is room for one more new event, and then none.
      const second = await send(app, eventFrame({ idempotency_key: 'k-new' }));
      expect(second).toMatchObject({ type: 'accepted', queued: false });
      expect(await send(app, eventFrame({ idempotency_key: 'k-over' }))).toMatchObject({
        type: 'error',
        code: ErrorCode.RATE_LIMITED,
      });
      const late = await send(app, eventFrame({ idempotency_key: 'k-rate', ref: 'late-retry' }));
      expect(late).toMatchObject({ type: 'accepted', event_id: first.event_id, ref: 'late-retry' });
      await agent.nextOf('event', second.event_id);
      await agent.nextOf('event', first.event_id);
      expect(await agent.quiet(150)).toEqual([]);
    });
  });
});

// PROTOCOL.md: a resend with the same key within the key's life (24 h) gets the first event back.
// The finished record is kept only briefly (RELAY_FINISHED_RETENTION_MS), far less than the key:
// the resend must still get the same event and its final, and must not reach the agent again.
describe.each(backendsUnderTest())('idempotency_key after the ended event outlived its retention ($name backend)', (backend) => {
  // a short retention, which a node accepts with a node TTL of at most half of it
  const r = useRelay(backend, { perTest: true, env: { RELAY_FINISHED_RETENTION_MS: '3000', RELAY_NODE_TTL_MS: '1500' } });

  /** Whether the relay still holds this ended event's record (a cancel tells "ended" from "unknown"). */
  const stillKept = async (app: TestClient, eventId: string): Promise<boolean> => {
    const ref = `probe-${Math.random().toString(36).slice(2)}`;
    app.send({ type: 'cancel', event_id: eventId, ref });
    const answer = await app.next((f) => f.type === 'error' && f.ref === ref);
    expect(answer).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, event_id: eventId });
    return !/^No event/.test(answer.message as string);
  };

  test('a resend gets the same event_id and the final again, and the agent does not get the event again', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const first = await send(app, eventFrame({ idempotency_key: 'k-long-done' }));
    await agent.nextOf('event', first.event_id);
    agent.send({ type: 'reply', event_id: first.event_id, content: 'answered once', finish_reason: 'stop' });
    const reply = await app.nextOf('reply', first.event_id);

    // An event sent without a key, ended after the first: once its record is forgotten, the
    // first event's retention has passed too.
    const plain = await send(app, eventFrame());
    await agent.nextOf('event', plain.event_id);
    agent.send({ type: 'reply', event_id: plain.event_id, content: 'plain', finish_reason: 'stop' });
    await app.nextOf('reply', plain.event_id);
    expect(await stillKept(app, plain.event_id)).toBe(true);
    const deadline = Date.now() + 20_000;
    while (await stillKept(app, plain.event_id)) {
      if (Date.now() > deadline) throw new Error('the ended event was never forgotten');
      await sleep(250);
    }

    // A new connection, as an app that lost the final with a node would resend from.
    const other = await r.connect('portal');
    const again = await send(other, eventFrame({ idempotency_key: 'k-long-done', ref: 'late-resend' }));
    expect(again).toMatchObject({ type: 'accepted', event_id: first.event_id, ref: 'late-resend', session_key: first.session_key });
    expect(await other.nextOf('reply', first.event_id)).toEqual(reply);

    // Had the resend been recorded as a new event, the agent would get it before this later
    // event of the same session.
    const after = await send(other, eventFrame({ idempotency_key: 'k-after' }));
    expect((await agent.nextOf('event')).event_id).toBe(after.event_id);
  });
});
