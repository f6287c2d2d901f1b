import { ErrorCode } from '@relay/protocol';
import { backendsUnderTest } from '../support/backends';
import { eventFrame } from '../support/client';
import { finalsFor, recordFrames, send, sleep, untaken } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';

const REPLY_TIMEOUT_MS = 300;

describe.each(backendsUnderTest())('agent reply timeout ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true, env: { RELAY_REPLY_TIMEOUT_MS: String(REPLY_TIMEOUT_MS) } });

  test('a silent agent: one AGENT_TIMEOUT to the app, a cancel to the agent, its late reply refused', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame());
    expect(accepted).toMatchObject({ type: 'accepted', queued: false });
    await agent.nextOf('event', accepted.event_id);

    const timeout = await app.nextOf('error', accepted.event_id, 3_000);
    expect(timeout).toMatchObject({ code: ErrorCode.AGENT_TIMEOUT, event_id: accepted.event_id });
    expect(await agent.nextOf('cancel', accepted.event_id)).toEqual({ type: 'cancel', event_id: accepted.event_id });

    agent.send({ type: 'token', event_id: accepted.event_id, token: 'too', ref: 'late-token' });
    agent.send({ type: 'reply', event_id: accepted.event_id, content: 'too late', finish_reason: 'stop', ref: 'late-reply' });
    expect(await agent.nextOf('error', accepted.event_id)).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 'late-token' });
    expect(await agent.nextOf('error', accepted.event_id)).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 'late-reply' });

    await sleep(300);
    expect(seen.filter((f) => f.event_id === accepted.event_id).map((f) => f.type)).toEqual(['accepted', 'error']);
    expect(finalsFor(seen, accepted.event_id)).toHaveLength(1);
  });

  test('the timeout counts silence: tokens keep an event alive past it, and the reply arrives', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame());
    await agent.nextOf('event', accepted.event_id);
    const pieces = 10; // one every 100 ms: a second in all, over three reply timeouts
    for (let i = 0; i < pieces; i++) {
      agent.send({ type: 'token', event_id: accepted.event_id, token: `${i} ` });
      await sleep(100);
    }
    agent.send({ type: 'reply', event_id: accepted.event_id, content: 'done', finish_reason: 'stop' });
    const reply = await app.nextOf('reply', accepted.event_id);
    expect(reply).toMatchObject({ content: 'done', metadata: { tokens_used: pieces } });
    await sleep(REPLY_TIMEOUT_MS + 200);
    expect(finalsFor(seen, accepted.event_id)).toEqual([reply]);
    expect(untaken(agent, 'cancel')).toEqual([]);
    expect(untaken(agent, 'error')).toEqual([]);
  });
});

describe.each(backendsUnderTest())('agent reply timeout with max_in_flight 1 ($name backend)', (backend) => {
  const r = useRelay(backend, {
    perTest: true,
    env: { RELAY_REPLY_TIMEOUT_MS: String(REPLY_TIMEOUT_MS) },
    registry: { agents: { athena: { max_in_flight: 1 } } },
  });

  test('a timed-out event frees its place: the agent gets the next event', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const first = await send(app, eventFrame({ thread_id: 'portal:task-1:a' }));
    await agent.nextOf('event', first.event_id);
    const second = await send(app, eventFrame({ thread_id: 'portal:task-2:b' }));
    expect(second).toMatchObject({ type: 'accepted', queued: true });
    expect(untaken(agent, 'event', second.event_id)).toEqual([]);
    expect(await app.nextOf('error', first.event_id, 3_000)).toMatchObject({ code: ErrorCode.AGENT_TIMEOUT });
    const event = await agent.nextOf('event', second.event_id);
    agent.send({ type: 'reply', event_id: event.event_id, content: 'ok', finish_reason: 'stop' });
    expect(await app.nextOf('reply', second.event_id)).toMatchObject({ content: 'ok' });
  });
});

describe.each(backendsUnderTest())('cancel ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true });

  test('cancelling a waiting event: CANCELLED with event_id and ref, and the agent never receives it', async () => {
    const app = await r.connect('portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame());
    const kept = await send(app, eventFrame({ thread_id: 'portal:task-2:c' }));
    expect(accepted).toMatchObject({ type: 'accepted', queued: true });

    app.send({ type: 'cancel', event_id: accepted.event_id, ref: 'c-1' });
    const cancelled = await app.nextOf('error', accepted.event_id);
    expect(cancelled).toMatchObject({ code: ErrorCode.CANCELLED, event_id: accepted.event_id, ref: 'c-1' });

    const agent = await r.connect('athena');
    expect(await agent.nextOf('event', kept.event_id)).toMatchObject({ attempt: 1 });
    expect(await agent.quiet(300)).toEqual([]);
    expect(finalsFor(seen, accepted.event_id)).toHaveLength(1);
  });

  test('cancelling an in-flight event: CANCELLED to the app, cancel to the agent, its later frames refused', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame());
    await agent.nextOf('event', accepted.event_id);
    agent.send({ type: 'token', event_id: accepted.event_id, token: 'before' });
    expect(await app.nextOf('token', accepted.event_id)).toMatchObject({ token: 'before', seq: 0 });

    app.send({ type: 'cancel', event_id: accepted.event_id, ref: 'stop-it' });
    expect(await app.nextOf('error', accepted.event_id)).toMatchObject({
      code: ErrorCode.CANCELLED,
      event_id: accepted.event_id,
      ref: 'stop-it',
    });
    expect(await agent.nextOf('cancel', accepted.event_id)).toEqual({ type: 'cancel', event_id: accepted.event_id });

    agent.send({ type: 'token', event_id: accepted.event_id, token: 'after', ref: 't' });
    agent.send({ type: 'reply', event_id: accepted.event_id, content: 'ignored', finish_reason: 'stop', ref: 'r' });
    expect(await agent.nextOf('error', accepted.event_id)).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 't' });
    expect(await agent.nextOf('error', accepted.event_id)).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 'r' });
    await sleep(200);
    expect(seen.filter((f) => f.event_id === accepted.event_id).map((f) => f.type)).toEqual(['accepted', 'token', 'error']);
  });

  test('cancelling an answered event, twice, or an unknown one: UNKNOWN_EVENT with event_id and ref', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const seen = recordFrames(app);
    const answered = await send(app, eventFrame());
    await agent.nextOf('event', answered.event_id);
    agent.send({ type: 'reply', event_id: answered.event_id, content: 'done', finish_reason: 'stop' });
    await app.nextOf('reply', answered.event_id);
    app.send({ type: 'cancel', event_id: answered.event_id, ref: 'too-late' });
    expect(await app.nextOf('error', answered.event_id)).toMatchObject({
      code: ErrorCode.UNKNOWN_EVENT,
      event_id: answered.event_id,
      ref: 'too-late',
    });

    const cancelled = await send(app, eventFrame({ thread_id: 'portal:task-2:c' }));
    await agent.nextOf('event', cancelled.event_id);
    app.send({ type: 'cancel', event_id: cancelled.event_id, ref: 'once' });
    app.send({ type: 'cancel', event_id: cancelled.event_id, ref: 'twice' });
    expect(await app.nextOf('error', cancelled.event_id)).toMatchObject({ code: ErrorCode.CANCELLED, ref: 'once' });
    expect(await app.nextOf('error', cancelled.event_id)).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 'twice' });

    const unknown = 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV';
    app.send({ type: 'cancel', event_id: unknown, ref: 'ghost' });
    expect(await app.nextOf('error', unknown)).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 'ghost' });

    await sleep(200);
    expect(finalsFor(seen, answered.event_id)).toHaveLength(1);
    expect(finalsFor(seen, cancelled.event_id)).toHaveLength(1);
  });

  test('a cancel from another connection of the same app ends the event once, at the connection that sent it', async () => {
    const agent = await r.connect('athena');
    const sender = await r.connect('portal');
    const other = await r.connect('portal');
    const senderSeen = recordFrames(sender);
    const otherSeen = recordFrames(other);
    const accepted = await send(sender, eventFrame());
    await agent.nextOf('event', accepted.event_id);
    other.send({ type: 'cancel', event_id: accepted.event_id, ref: 'from-other' });
    const cancelled = await sender.nextOf('error', accepted.event_id);
    expect(cancelled).toMatchObject({ code: ErrorCode.CANCELLED, event_id: accepted.event_id });
    expect(cancelled.ref).toBeUndefined(); // the ref is the other connection's, not the sender's
    expect(await agent.nextOf('cancel', accepted.event_id)).toMatchObject({ event_id: accepted.event_id });
    await sleep(200);
    expect([...finalsFor(senderSeen, accepted.event_id), ...finalsFor(otherSeen, accepted.event_id)]).toHaveLength(1);
  });

  test("an app cannot cancel another app's event, nor learn that it exists", async () => {
    const agent = await r.connect('athena');
    const portal = await r.connect('portal');
    const flow = await r.connect('flow');
    const accepted = await send(portal, eventFrame());
    await agent.nextOf('event', accepted.event_id);
    flow.send({ type: 'cancel', event_id: accepted.event_id, ref: 'not-mine' });
    const refused = await flow.nextOf('error', accepted.event_id);
    expect(refused).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 'not-mine' });
    // Same answer as for an id that never existed.
    flow.send({ type: 'cancel', event_id: 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV', ref: 'ghost' });
    expect((await flow.nextOf('error', 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV')).message).toBe(refused.message);
    // The event lives on.
    agent.send({ type: 'reply', event_id: accepted.event_id, content: 'still here', finish_reason: 'stop' });
    expect(await portal.nextOf('reply', accepted.event_id)).toMatchObject({ content: 'still here' });
    expect(untaken(agent, 'cancel')).toEqual([]);
  });
});

describe.each(backendsUnderTest())('exactly one final frame per event ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true, env: { RELAY_REPLY_TIMEOUT_MS: String(REPLY_TIMEOUT_MS) } });

  test('replies, timeouts, cancels and expiries racing each other each end an event once', async () => {
    const app = await r.connect('portal');
    const seen = recordFrames(app);
    // Waiting while the agent is offline: one expires, one is cancelled, the rest wait.
    const expiring = await send(app, eventFrame({ thread_id: 'portal:exp:c', ttl_ms: 150 }));
    const cancelledWaiting = await send(app, eventFrame({ thread_id: 'portal:cw:c' }));
    app.send({ type: 'cancel', event_id: cancelledWaiting.event_id });
    await app.nextOf('error', expiring.event_id, 3_000);

    const agent = await r.connect('athena');
    const ids = [expiring.event_id, cancelledWaiting.event_id];
    const byOutcome = { reply: [] as string[], silent: [] as string[], cancel: [] as string[], replyThenCancel: [] as string[] };
    const outcomes = Object.keys(byOutcome) as (keyof typeof byOutcome)[];
    for (let n = 0; n < 12; n++) {
      const accepted = await send(app, eventFrame({ thread_id: `portal:s-${n}:c` }));
      byOutcome[outcomes[n % outcomes.length] as keyof typeof byOutcome].push(accepted.event_id);
      ids.push(accepted.event_id);
    }
    for (let n = 0; n < 12; n++) await agent.nextOf('event');
    for (const id of byOutcome.reply) agent.send({ type: 'reply', event_id: id, content: 'r', finish_reason: 'stop' });
    for (const id of byOutcome.cancel) app.send({ type: 'cancel', event_id: id });
    for (const id of byOutcome.replyThenCancel) {
      // The reply and the cancel race: whichever the relay takes first ends the event.
      agent.send({ type: 'reply', event_id: id, content: 'r', finish_reason: 'stop' });
      app.send({ type: 'cancel', event_id: id });
    }

    await sleep(REPLY_TIMEOUT_MS * 3); // every silent event has timed out by now, with room to spare
    for (const id of ids) expect({ id, finals: finalsFor(seen, id).length }).toEqual({ id, finals: 1 });
    for (const id of byOutcome.reply) expect(finalsFor(seen, id)[0]).toMatchObject({ type: 'reply' });
    for (const id of byOutcome.silent) expect(finalsFor(seen, id)[0]).toMatchObject({ code: ErrorCode.AGENT_TIMEOUT });
    for (const id of byOutcome.cancel) expect(finalsFor(seen, id)[0]).toMatchObject({ code: ErrorCode.CANCELLED });
    expect(finalsFor(seen, cancelledWaiting.event_id)[0]).toMatchObject({ code: ErrorCode.CANCELLED });
    expect(finalsFor(seen, expiring.event_id)[0]).toMatchObject({ code: ErrorCode.EVENT_EXPIRED });
  });
});
