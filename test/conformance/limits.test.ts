import { ErrorCode, RETRYABLE_ERROR_CODES } from '@relay/protocol';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, UpgradeRefused, type Frame, type TestClient } from '../support/client';
import { send, sleep, untaken } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';

const WINDOW_MS = 1_000;

/** Waits until just after a rate window starts (windows are aligned to the epoch), and says when it ends. */
async function startOfWindow(windowMs: number): Promise<number> {
  const now = Date.now();
  const end = (Math.floor(now / windowMs) + 1) * windowMs;
  await sleep(end - now + 20);
  return end + windowMs;
}

describe.each(backendsUnderTest())('rate limits ($name backend)', (backend) => {
  const r = useRelay(backend, {
    perTest: true,
    registry: { apps: { portal: { rate_limit_per_min: 2, hard_rate_limit_per_min: 4 } } },
    env: { RELAY_RATE_WINDOW_MS: String(WINDOW_MS) },
  });

  test('up to the soft limit at once, up to the hard limit held for the next window, beyond it RATE_LIMITED', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const windowEnd = await startOfWindow(WINDOW_MS);

    const answers: Frame[] = [];
    for (let n = 1; n <= 5; n++) answers.push(await send(app, eventFrame({ payload: { n }, ref: `e-${n}` })));
    const [e1, e2, e3, e4, e5] = answers as [Frame, Frame, Frame, Frame, Frame];
    expect(e1).toMatchObject({ type: 'accepted', queued: false });
    expect(e2).toMatchObject({ type: 'accepted', queued: false });
    expect(e3).toMatchObject({ type: 'accepted', queued: true });
    expect(e4).toMatchObject({ type: 'accepted', queued: true });
    expect(e5).toMatchObject({ type: 'error', code: ErrorCode.RATE_LIMITED, ref: 'e-5' });
    expect(e5.event_id).toBeUndefined();
    expect(RETRYABLE_ERROR_CODES.has(ErrorCode.RATE_LIMITED)).toBe(true);

    // The first two go at once; the held two are not at the agent while the window lasts.
    expect(await agent.nextOf('event', e1.event_id)).toMatchObject({ payload: { n: 1 } });
    expect(await agent.nextOf('event', e2.event_id)).toMatchObject({ payload: { n: 2 } });
    expect(untaken(agent, 'event')).toEqual([]);

    // Once the window rolls over they arrive, in accept order.
    const third = await agent.nextOf('event', undefined, 3 * WINDOW_MS);
    const arrivedAt = Date.now();
    const fourth = await agent.nextOf('event', undefined, 3 * WINDOW_MS);
    expect([third.event_id, fourth.event_id]).toEqual([e3.event_id, e4.event_id]);
    expect(arrivedAt).toBeGreaterThanOrEqual(windowEnd - 5); // not before the window ended (clock granularity aside)
    expect(await agent.quiet(100)).toEqual([]);

    // A new window has a new budget.
    expect(await send(app, eventFrame({ payload: { n: 6 } }))).toMatchObject({ type: 'accepted' });
  });

  test('the limit is per app: another app is not held back by this one', async () => {
    const agent = await r.connect('athena');
    const portal = await r.connect('portal');
    const flow = await r.connect('flow');
    await startOfWindow(WINDOW_MS);
    for (let n = 0; n < 4; n++) await send(portal, eventFrame({ payload: { n } }));
    expect(await send(portal, eventFrame())).toMatchObject({ type: 'error', code: ErrorCode.RATE_LIMITED });
    const other = await send(flow, eventFrame({ thread_id: 'flow:run-1:step-1' }));
    expect(other).toMatchObject({ type: 'accepted', queued: false });
    await agent.nextOf('event', other.event_id);
  });
});

describe.each(backendsUnderTest())('events held several windows ahead ($name backend)', (backend) => {
  const r = useRelay(backend, {
    perTest: true,
    registry: { apps: { portal: { rate_limit_per_min: 1, hard_rate_limit_per_min: 3 } } },
    env: { RELAY_RATE_WINDOW_MS: '500' },
  });

  test('each held event is released in its own later window, with nothing else happening meanwhile', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    await startOfWindow(500);
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) {
      const accepted = await send(app, eventFrame({ thread_id: `portal:task-${n}:c` }));
      expect(accepted).toMatchObject({ type: 'accepted', queued: n > 0 });
      ids.push(accepted.event_id);
    }
    const got: string[] = [];
    for (let n = 0; n < 3; n++) got.push((await agent.nextOf('event', undefined, 3_000)).event_id);
    expect(got).toEqual(ids);
  });
});

describe.each(backendsUnderTest())('refused events and the rate budget ($name backend)', (backend) => {
  const r = useRelay(backend, {
    perTest: true,
    registry: {
      apps: { portal: { rate_limit_per_min: 2, hard_rate_limit_per_min: 2 } },
      agents: { athena: { max_queue: 1 } },
    },
    env: { RELAY_RATE_WINDOW_MS: '600000' }, // one window for the whole test
  });

  // PROTOCOL.md is silent; an event refused with QUEUE_FULL was not accepted, so it should not
  // count against the app's rate either.
  test('an event refused with QUEUE_FULL does not use up the rate budget', async () => {
    const app = await r.connect('portal');
    const first = await send(app, eventFrame());
    expect(first).toMatchObject({ type: 'accepted', queued: true });
    expect(await send(app, eventFrame())).toMatchObject({ type: 'error', code: ErrorCode.QUEUE_FULL });
    const agent = await r.connect('athena');
    await agent.nextOf('event', first.event_id);
    const second = await send(app, eventFrame());
    expect(second).toMatchObject({ type: 'accepted', queued: false });
    expect(await send(app, eventFrame())).toMatchObject({ type: 'error', code: ErrorCode.RATE_LIMITED });
  });
});

describe.each(backendsUnderTest())('max_connections ($name backend)', (backend) => {
  const r = useRelay(backend, {
    perTest: true,
    registry: { apps: { portal: { max_connections: 2 } }, agents: { athena: { max_connections: 1 } } },
  });

  const refusal = (p: Promise<TestClient>) =>
    p.then(
      () => 'admitted',
      (err: unknown) => (err instanceof UpgradeRefused ? err.status : String(err)),
    );

  /**
   * An app socket's place is taken by the node's opening work, after the upgrade (sessions.ts
   * `opened`), so a socket being open does not yet count on the other nodes; a frame on its
   * ordered queue is answered only after that work. On the Redis Cluster the next upgrade,
   * on another node, often came first and was admitted (then closed, as designed).
   */
  const placed = async (app: TestClient): Promise<TestClient> => {
    app.send({ type: 'discover', ref: 'placed' });
    expect(await app.nextOf('agents')).toMatchObject({ ref: 'placed' });
    return app;
  };
  /** A closed socket's place is given back by its node after the close: ask until it is. */
  const onceFreed = async (connect: () => Promise<TestClient>): Promise<TestClient> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        return await connect();
      } catch (err) {
        if (!(err instanceof UpgradeRefused && err.status === 429) || Date.now() > deadline) throw err;
        await sleep(50);
      }
    }
  };

  test('an app past max_connections is refused with 429 until one of its connections closes', async () => {
    const a = await placed(await r.connect('portal'));
    const b = await placed(await r.connect('portal'));
    expect(await refusal(r.connect('portal'))).toBe(429);
    // The others still work, and other apps are not affected.
    expect(await send(b, eventFrame({ agent_id: 'nobody' }))).toMatchObject({ code: ErrorCode.AGENT_NOT_FOUND });
    await r.connect('flow');

    await a.close();
    await placed(await onceFreed(() => r.connect('portal')));
    expect(await refusal(r.connect('portal'))).toBe(429);
  });

  test('an agent past max_connections is refused with 429', async () => {
    const first = await r.connect('athena');
    expect(await refusal(r.connect('athena'))).toBe(429);
    await first.close();
    await onceFreed(() => r.connect('athena'));
  });
});

describe.each(backendsUnderTest())('agent max_in_flight ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true, registry: { agents: { athena: { max_in_flight: 2 } } } });

  test('a connection holds at most max_in_flight events; each reply releases the next, in accept order', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const accepted = await send(app, eventFrame({ thread_id: `portal:task-${n}:c`, payload: { n } }));
      expect(accepted).toMatchObject({ type: 'accepted', queued: n >= 2 });
      ids.push(accepted.event_id);
    }
    const held = [(await agent.nextOf('event')).event_id, (await agent.nextOf('event')).event_id];
    expect(held).toEqual(ids.slice(0, 2));
    expect(await agent.quiet(200)).toEqual([]);

    for (let next = 2; next < 5; next++) {
      const done = held.shift() as string;
      agent.send({ type: 'reply', event_id: done, content: `answer ${done}`, finish_reason: 'stop' });
      expect(await app.nextOf('reply', done)).toMatchObject({ content: `answer ${done}` });
      const released = await agent.nextOf('event');
      expect(released.event_id).toBe(ids[next]);
      held.push(released.event_id);
      expect(await agent.quiet(150)).toEqual([]); // still two held: nothing more comes
    }
    for (const id of held) agent.send({ type: 'reply', event_id: id, content: 'last', finish_reason: 'stop' });
    for (const id of held) await app.nextOf('reply', id);
  });

  test('the cap is per connection: a second connection of the agent takes the next events', async () => {
    const first = await r.connect('athena');
    const app = await r.connect('portal');
    const ids: string[] = [];
    for (let n = 0; n < 4; n++) ids.push((await send(app, eventFrame({ thread_id: `portal:task-${n}:c` }))).event_id);
    await first.nextOf('event');
    await first.nextOf('event');
    const second = await r.connect('athena');
    const got = [(await second.nextOf('event')).event_id, (await second.nextOf('event')).event_id];
    expect(got).toEqual(ids.slice(2));
    expect(await first.quiet(150)).toEqual([]);
    expect(await second.quiet(0)).toEqual([]);
  });
});
