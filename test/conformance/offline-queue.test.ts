import { ErrorCode, RETRYABLE_ERROR_CODES } from '@relay/protocol';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame } from '../support/client';
import { finalsFor, recordFrames, send, sleep, untaken } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';

const SESSION_A = 'portal:task-1';
const SESSION_B = 'portal:task-2';

describe.each(backendsUnderTest())('offline queue ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true });

  test('events for an offline agent are accepted as queued and delivered at once, per session in accept order', async () => {
    const app = await r.connect('portal');
    const sent: { eventId: string; session: string; n: number }[] = [];
    for (let n = 0; n < 12; n++) {
      const session = n % 3 === 0 ? SESSION_B : SESSION_A; // interleaved: A A B A A B …
      const answer = await send(app, eventFrame({ thread_id: `${session}:c-${n}`, payload: { n } }));
      expect(answer).toMatchObject({ type: 'accepted', queued: true, session_key: `relay:athena:${session}` });
      sent.push({ eventId: answer.event_id, session, n });
    }
    expect(new Set(sent.map((s) => s.eventId)).size).toBe(12);

    const agent = await r.connect('athena');
    const received: Frame[] = [];
    // At once on connect, not after some backoff: all of them well within a second.
    for (let i = 0; i < sent.length; i++) received.push(await agent.nextOf('event', undefined, 1_000));
    // Every event exactly once, first attempt, with the payload the app sent.
    expect(received.map((e) => e.event_id).sort()).toEqual(sent.map((s) => s.eventId).sort());
    for (const e of received) {
      const s = sent.find((x) => x.eventId === e.event_id) as (typeof sent)[number];
      expect(e).toMatchObject({ attempt: 1, app_id: 'portal', payload: { n: s.n }, session_key: `relay:athena:${s.session}` });
    }
    // Per session, accept order.
    for (const session of [SESSION_A, SESSION_B]) {
      const key = `relay:athena:${session}`;
      expect(received.filter((e) => e.session_key === key).map((e) => e.event_id)).toEqual(
        sent.filter((s) => s.session === session).map((s) => s.eventId),
      );
    }
    expect(await agent.quiet(200)).toEqual([]);
  });

  test('events for an online agent are accepted with queued: false and delivered', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    for (let n = 0; n < 3; n++) {
      const answer = await send(app, eventFrame({ payload: { n } }));
      expect(answer).toMatchObject({ type: 'accepted', queued: false });
      expect(await agent.nextOf('event', answer.event_id)).toMatchObject({ payload: { n }, attempt: 1 });
    }
  });

  test('an agent that reconnects gets what was queued while it was away, and only that', async () => {
    const first = await r.connect('athena');
    await first.close();
    const app = await r.connect('portal');
    const answer = await send(app, eventFrame());
    expect(answer).toMatchObject({ type: 'accepted', queued: true });
    const agent = await r.connect('athena');
    expect(await agent.nextOf('event', answer.event_id)).toMatchObject({ attempt: 1 });
    expect(await agent.quiet(150)).toEqual([]);
  });
});

describe.each(backendsUnderTest())('event expiry ($name backend)', (backend) => {
  describe('ttl_ms on the event', () => {
    const r = useRelay(backend, { perTest: true });

    test('an event that waits past its ttl_ms ends with exactly one EVENT_EXPIRED, and is never delivered', async () => {
      const app = await r.connect('portal');
      const seen = recordFrames(app);
      const short = await send(app, eventFrame({ ttl_ms: 300, ref: 'short' }));
      const long = await send(app, eventFrame({ thread_id: 'portal:task-9:c', ttl_ms: 60_000 }));
      expect(short).toMatchObject({ type: 'accepted', queued: true, ref: 'short' });
      expect(long).toMatchObject({ type: 'accepted', queued: true });

      const expired = await app.nextOf('error', short.event_id, 3_000);
      expect(expired).toMatchObject({ code: ErrorCode.EVENT_EXPIRED, event_id: short.event_id });
      expect(typeof expired.message).toBe('string');
      expect(expired.error).toBe(expired.message);

      const agent = await r.connect('athena');
      // The event with the long TTL is still there, the expired one is gone.
      expect(await agent.nextOf('event', long.event_id)).toMatchObject({ attempt: 1 });
      expect(await agent.quiet(300)).toEqual([]);
      // Exactly one frame ended it, and no other frame about it reached the app.
      expect(seen.filter((f) => f.event_id === short.event_id).map((f) => f.type)).toEqual(['accepted', 'error']);
      expect(finalsFor(seen, short.event_id)).toHaveLength(1);
      expect(finalsFor(seen, long.event_id)).toHaveLength(0);
    });

    test('an event delivered before its ttl_ms passes is not expired by it', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const seen = recordFrames(app);
      const accepted = await send(app, eventFrame({ ttl_ms: 200 }));
      expect(accepted).toMatchObject({ type: 'accepted', queued: false });
      await agent.nextOf('event', accepted.event_id);
      await sleep(500); // well past the TTL, well within the reply timeout
      agent.send({ type: 'reply', event_id: accepted.event_id, content: 'late but fine', finish_reason: 'stop' });
      expect(await app.nextOf('reply', accepted.event_id)).toMatchObject({ content: 'late but fine' });
      await sleep(100);
      expect(finalsFor(seen, accepted.event_id)).toHaveLength(1);
    });

    test('an event handed back by a lost agent after its ttl_ms has passed expires, instead of waiting forever', async () => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const seen = recordFrames(app);
      const accepted = await send(app, eventFrame({ ttl_ms: 200 }));
      await agent.nextOf('event', accepted.event_id);
      await sleep(400); // the TTL passes while the agent holds it
      await agent.close(); // lost before replying: the event goes back to the queue
      expect(await app.nextOf('error', accepted.event_id, 3_000)).toMatchObject({ code: ErrorCode.EVENT_EXPIRED });
      const next = await r.connect('athena');
      expect(await next.quiet(300)).toEqual([]);
      expect(finalsFor(seen, accepted.event_id)).toHaveLength(1);
    });
  });

  describe("the agent's default_ttl_ms", () => {
    const r = useRelay(backend, { perTest: true, registry: { agents: { athena: { default_ttl_ms: 300 } } } });

    test('applies when the event has no ttl_ms', async () => {
      const app = await r.connect('portal');
      const seen = recordFrames(app);
      const defaulted = await send(app, eventFrame());
      const explicit = await send(app, eventFrame({ thread_id: 'portal:task-9:c', ttl_ms: 60_000 }));
      expect(defaulted).toMatchObject({ type: 'accepted', queued: true });
      expect(explicit).toMatchObject({ type: 'accepted', queued: true });

      expect(await app.nextOf('error', defaulted.event_id, 3_000)).toMatchObject({
        code: ErrorCode.EVENT_EXPIRED,
        event_id: defaulted.event_id,
      });
      const agent = await r.connect('athena');
      expect(await agent.nextOf('event', explicit.event_id)).toMatchObject({ attempt: 1 });
      expect(await agent.quiet(300)).toEqual([]);
      expect(finalsFor(seen, defaulted.event_id)).toHaveLength(1);
      expect(finalsFor(seen, explicit.event_id)).toHaveLength(0);
    });
  });

  describe('RELAY_MAX_TTL_MS', () => {
    const r = useRelay(backend, { perTest: true, env: { RELAY_MAX_TTL_MS: '300' } });

    test('caps a longer ttl_ms', async () => {
      const app = await r.connect('portal');
      const accepted = await send(app, eventFrame({ ttl_ms: 3_600_000 }));
      expect(accepted).toMatchObject({ type: 'accepted', queued: true });
      expect(await app.nextOf('error', accepted.event_id, 3_000)).toMatchObject({ code: ErrorCode.EVENT_EXPIRED });
      const agent = await r.connect('athena');
      expect(await agent.quiet(300)).toEqual([]);
    });
  });
});

describe.each(backendsUnderTest())('offline queue cap ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true, registry: { agents: { athena: { max_queue: 3 } } } });

  test('past max_queue waiting events the next one gets QUEUE_FULL and nothing is accepted', async () => {
    const app = await r.connect('portal');
    const accepted: string[] = [];
    for (let n = 0; n < 3; n++) {
      const answer = await send(app, eventFrame({ thread_id: `portal:task-${n}:c`, payload: { n } }));
      expect(answer).toMatchObject({ type: 'accepted', queued: true });
      accepted.push(answer.event_id);
    }
    const full = await send(app, eventFrame({ ref: 'fourth', payload: { n: 3 } }));
    expect(full).toMatchObject({ type: 'error', code: ErrorCode.QUEUE_FULL, ref: 'fourth' });
    expect(full.event_id).toBeUndefined();
    expect(RETRYABLE_ERROR_CODES.has(ErrorCode.QUEUE_FULL)).toBe(true);
    expect(untaken(app, 'accepted')).toEqual([]);

    // Only the three accepted events exist: the agent gets exactly those.
    const agent = await r.connect('athena');
    const got: string[] = [];
    for (let n = 0; n < 3; n++) got.push((await agent.nextOf('event')).event_id);
    expect(got.sort()).toEqual([...accepted].sort());
    expect(await agent.quiet(200)).toEqual([]);

    // The queue has drained into the agent: new events are accepted again, and go straight to it.
    const again = await send(app, eventFrame({ ref: 'again', payload: { n: 4 } }));
    expect(again).toMatchObject({ type: 'accepted', queued: false, ref: 'again' });
    expect(await agent.nextOf('event', again.event_id)).toMatchObject({ payload: { n: 4 } });
  });

  test('a cancelled waiting event frees its place in the queue', async () => {
    const app = await r.connect('portal');
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push((await send(app, eventFrame({ payload: { n } }))).event_id);
    expect(await send(app, eventFrame())).toMatchObject({ type: 'error', code: ErrorCode.QUEUE_FULL });
    app.send({ type: 'cancel', event_id: ids[0] });
    await app.nextOf('error', ids[0]);
    expect(await send(app, eventFrame({ ref: 'room' }))).toMatchObject({ type: 'accepted', queued: true, ref: 'room' });
  });
});
