import { backendsUnderTest } from '../support/backends';
import type { Frame, TestClient } from '../support/client';
import { sendAll, waitFor } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';

// An agent connection that dies holding unanswered events: they go again, with attempt + 1, to
// the agent's other connection (or its next one), in accept order; the app still gets exactly
// one final reply per event. Events answered before the close are not sent again.

const eventsAt = (agent: TestClient): Frame[] => agent.frames.filter((f) => f.type === 'event');
const reply = (eventId: string, content: string) => ({ type: 'reply', event_id: eventId, content, finish_reason: 'stop' });

describe.each(backendsUnderTest())('redelivery after an agent connection is lost ($name backend)', (backend) => {
  const r = useRelay(backend);

  /** Every reply the app has got so far (taken or not), counted per event. */
  const repliesAt = (app: TestClient, eventId: string, taken: Frame[]) =>
    [...taken, ...app.frames].filter((f) => f.type === 'reply' && f.event_id === eventId).length;

  test("unanswered events go to the agent's other connection with attempt 2, in accept order", async () => {
    const w1 = await r.connect('athena');
    const app = await r.connect('portal');
    // w1 is the only connection, so it gets every event: two sessions, interleaved.
    const accepted = await sendAll(app, [
      'portal:re-1:a', 'portal:re-2:a', 'portal:re-1:b', 'portal:re-2:b', 'portal:re-1:c', 'portal:re-2:c',
    ]);
    const ids = accepted.map((a) => a.event_id as string);
    await waitFor('six events at w1', () => eventsAt(w1).length === 6);
    expect(eventsAt(w1).map((e) => e.event_id)).toEqual(ids);
    expect(eventsAt(w1).every((e) => e.attempt === 1)).toBe(true);

    // w1 answers the second event, streams part of the first, then dies.
    const [first, answered] = ids as [string, string];
    w1.send(reply(answered, 'from w1'));
    const answeredReply = await app.nextOf('reply', answered);
    expect(answeredReply.content).toBe('from w1');
    for (const token of ['par', 'tial']) w1.send({ type: 'token', event_id: first, token });
    expect((await app.nextOf('token', first)).seq).toBe(0);
    expect((await app.nextOf('token', first)).seq).toBe(1);

    const w2 = await r.connect('athena');
    expect(await app.quiet(100)).toEqual([]);
    expect(eventsAt(w2)).toEqual([]); // nothing moves while w1 lives
    w1.ws.terminate(); // no closing handshake: the connection is simply lost
    await w1.closed;

    const redelivered = ids.filter((id) => id !== answered);
    await waitFor('the five unanswered events at w2', () => eventsAt(w2).length === 5);
    expect(eventsAt(w2).map((e) => e.event_id)).toEqual(redelivered);
    expect(eventsAt(w2).map((e) => e.attempt)).toEqual([2, 2, 2, 2, 2]);
    expect(eventsAt(w2).every((e) => e.app_id === 'portal' && e.payload !== undefined)).toBe(true);

    const taken: Frame[] = [answeredReply];
    for (const id of redelivered) w2.send(reply(id, `from w2 ${id}`));
    for (const id of redelivered) {
      const final = await app.nextOf('reply', id);
      taken.push(final);
      expect(final.content).toBe(`from w2 ${id}`);
    }
    await app.quiet(200);
    for (const id of ids) expect(repliesAt(app, id, taken)).toBe(1);
    expect((await w2.quiet(50)).filter((f) => f.type !== 'event' && f.type !== 'ping')).toEqual([]);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });

  test("with no other connection, the agent's next connection gets them with attempt 2", async () => {
    const w1 = await r.connect('athena');
    const app = await r.connect('portal');
    const accepted = await sendAll(app, ['portal:next-1:a', 'portal:next-2:a', 'portal:next-1:b', 'portal:next-1:c']);
    const ids = accepted.map((a) => a.event_id as string);
    await waitFor('four events at w1', () => eventsAt(w1).length === 4);
    await w1.close();

    // Offline: the events wait; the app hears nothing final in the meantime.
    expect((await app.quiet(300)).filter((f) => f.type === 'reply' || f.type === 'error')).toEqual([]);

    const w2 = await r.connect('athena');
    await waitFor('four events at w2', () => eventsAt(w2).length === 4);
    expect(eventsAt(w2).map((e) => e.event_id)).toEqual(ids);
    expect(eventsAt(w2).map((e) => e.attempt)).toEqual([2, 2, 2, 2]);

    for (const id of ids) w2.send(reply(id, `from w2 ${id}`));
    const taken: Frame[] = [];
    for (const id of ids) taken.push(await app.nextOf('reply', id));
    expect(taken.map((r) => r.content)).toEqual(ids.map((id) => `from w2 ${id}`));
    await app.quiet(200);
    for (const id of ids) expect(repliesAt(app, id, taken)).toBe(1);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });

  test('a reply sent just before the close counts: that event is not redelivered', async () => {
    const w1 = await r.connect('athena');
    const w2 = await r.connect('athena');
    const app = await r.connect('portal');
    const [acc] = await sendAll(app, ['portal:last-word:a']);
    const id = acc?.event_id as string;
    await waitFor('the event at an agent', () => eventsAt(w1).length + eventsAt(w2).length === 1);
    const [holder, other] = eventsAt(w1).length === 1 ? [w1, w2] : [w2, w1];

    holder.send(reply(id, 'last words'));
    holder.ws.close(1000); // right behind the reply, in the same breath
    await holder.closed;

    const final = await app.nextOf('reply', id);
    expect(final.content).toBe('last words');
    const later = await app.quiet(300);
    expect(later.filter((f) => f.event_id === id)).toEqual([]);
    expect(eventsAt(other)).toEqual([]);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });

  test('each loss adds one to attempt, and the app still gets one final reply', async () => {
    const app = await r.connect('portal');
    const [acc] = await sendAll(app, ['portal:unlucky:a']);
    const id = acc?.event_id as string;
    expect(acc?.queued).toBe(true);

    for (const attempt of [1, 2, 3]) {
      const w = await r.connect('athena');
      const event = await w.nextOf('event', id);
      expect(event.attempt).toBe(attempt);
      w.send({ type: 'token', event_id: id, token: `try ${attempt}` });
      await app.nextOf('token', id);
      w.ws.terminate();
      await w.closed;
    }
    const last = await r.connect('athena');
    expect((await last.nextOf('event', id)).attempt).toBe(4);
    last.send(reply(id, 'finally'));
    const final = await app.nextOf('reply', id);
    expect(final.content).toBe('finally');
    expect((await app.quiet(200)).filter((f) => f.type === 'reply' || f.type === 'error')).toEqual([]);
    expect(app.invalid).toEqual([]);
  });

  test('late frames from a replaced attempt are refused, not forwarded', async () => {
    const w1 = await r.connect('athena');
    const app = await r.connect('portal');
    const [acc] = await sendAll(app, ['portal:stale:a']);
    const id = acc?.event_id as string;
    await w1.nextOf('event', id);
    await w1.close();
    const w2 = await r.connect('athena');
    await w2.nextOf('event', id);
    w2.send(reply(id, 'answer'));
    expect((await app.nextOf('reply', id)).content).toBe('answer');

    // A second reply for the finished event is refused and goes nowhere.
    w2.send(reply(id, 'again'));
    expect(await w2.nextOf('error', id)).toMatchObject({ code: 'UNKNOWN_EVENT' });
    expect((await app.quiet(200)).filter((f) => f.event_id === id)).toEqual([]);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });
});
