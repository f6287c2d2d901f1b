import { backendsUnderTest } from '../support/backends';
import type { Frame, TestClient } from '../support/client';
import { sendAll, waitFor } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';

// Invariant 3 and session affinity: per session_key, an agent receives events in accept order,
// and while the agent connection holding a session lives, every event of that session goes to it.

const eventsAt = (agent: TestClient): Frame[] => agent.frames.filter((f) => f.type === 'event');

/** Answers every event the agent gets at once, as a well-behaved worker would. */
function answerEverything(agent: TestClient): void {
  agent.ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame;
    if (frame.type === 'event') {
      agent.send({ type: 'reply', event_id: frame.event_id, content: `done ${frame.event_id}`, finish_reason: 'stop' });
    }
  });
}

describe.each(backendsUnderTest())('sessions and affinity ($name backend)', (backend) => {
  const r = useRelay(backend);

  test('threads sharing their first two segments share a session; others do not', async () => {
    const app = await r.connect('portal');
    const [a, b, other] = await sendAll(app, ['portal:task-1:a', 'portal:task-1:b', 'portal:task-2:a']);
    expect(a?.session_key).toBe('relay:athena:portal:task-1');
    expect(b?.session_key).toBe('relay:athena:portal:task-1');
    expect(other?.session_key).toBe('relay:athena:portal:task-2');
    // No agent is online: cancel them, so no later test's agent gets them.
    for (const ev of [a, b, other]) {
      app.send({ type: 'cancel', event_id: ev?.event_id });
      expect(await app.nextOf('error', ev?.event_id)).toMatchObject({ code: 'CANCELLED' });
    }
    expect(app.invalid).toEqual([]);
  });

  test("one session's events all go to the connection holding it, even while it is the busier one", async () => {
    const w1 = await r.connect('athena');
    const w2 = await r.connect('athena');
    answerEverything(w1);
    answerEverything(w2);
    const app = await r.connect('portal');

    // Ten events of session portal:task-1 (on two threads), each followed by events of two
    // sessions of their own (an odd stride, so alternating connections would split task-1),
    // sent in one burst.
    const threads: string[] = [];
    for (let i = 0; i < 10; i++) {
      threads.push(`portal:task-1:${i % 2 === 0 ? 'a' : 'b'}`, `portal:task-${100 + i}:x`, `portal:task-${200 + i}:y`);
    }
    const accepted = await sendAll(app, threads);
    await waitFor('every event at an agent', () => eventsAt(w1).length + eventsAt(w2).length === threads.length);

    const sticky = accepted.filter((a) => a.session_key === 'relay:athena:portal:task-1').map((a) => a.event_id);
    expect(sticky).toHaveLength(10);
    const holder = eventsAt(w1).some((e) => e.event_id === sticky[0]) ? w1 : w2;
    expect(eventsAt(holder).filter((e) => e.session_key === 'relay:athena:portal:task-1').map((e) => e.event_id)).toEqual(sticky);

    // Each event reached exactly one connection, once, as a first attempt.
    const all = [...eventsAt(w1), ...eventsAt(w2)];
    expect(all.map((e) => e.event_id).sort()).toEqual(accepted.map((a) => a.event_id).sort());
    expect(all.every((e) => e.attempt === 1)).toBe(true);

    // Every event was answered exactly once.
    for (const a of accepted) await app.nextOf('reply', a.event_id);
    expect((await app.quiet(100)).filter((f) => f.type === 'reply')).toEqual([]);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });

  test('different sessions spread over both connections, and each stays where it started', async () => {
    const w1 = await r.connect('athena');
    const w2 = await r.connect('athena');
    answerEverything(w1);
    answerEverything(w2);
    const app = await r.connect('portal');

    // Sent one at a time, each answered before the next: the connections are equally loaded
    // whenever a new session arrives, and an idle session still keeps its connection. Five
    // sessions, an odd number: plain alternation would move each session every round.
    const accepted: Frame[] = [];
    for (let round = 0; round < 3; round++) {
      for (let s = 0; s < 5; s++) {
        const [a] = await sendAll(app, [`portal:spread-${s}:r${round}`]);
        accepted.push(a as Frame);
        await app.nextOf('reply', a?.event_id);
      }
    }
    const holderOf = (eventId: string) => (eventsAt(w1).some((e) => e.event_id === eventId) ? 'w1' : 'w2');
    const bySession = new Map<string, Set<string>>();
    for (const a of accepted) {
      const holders = bySession.get(a.session_key) ?? new Set<string>();
      holders.add(holderOf(a.event_id));
      bySession.set(a.session_key, holders);
    }
    expect(bySession.size).toBe(5);
    for (const holders of bySession.values()) expect(holders.size).toBe(1);
    const used = new Set([...bySession.values()].flatMap((h) => [...h]));
    expect(used).toEqual(new Set(['w1', 'w2']));
    expect(eventsAt(w1).length + eventsAt(w2).length).toBe(accepted.length);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });

  test('a burst of new sessions is spread over both connections', async () => {
    const w1 = await r.connect('athena');
    const w2 = await r.connect('athena');
    const app = await r.connect('portal');
    const accepted = await sendAll(app, [0, 1, 2, 3, 4, 5].map((s) => `portal:burst-${s}:x`));
    await waitFor('every event at an agent', () => eventsAt(w1).length + eventsAt(w2).length === accepted.length);
    expect(eventsAt(w1).length).toBeGreaterThan(0);
    expect(eventsAt(w2).length).toBeGreaterThan(0);
    for (const w of [w1, w2]) for (const e of eventsAt(w)) w.send({ type: 'reply', event_id: e.event_id, content: 'ok', finish_reason: 'stop' });
    for (const a of accepted) await app.nextOf('reply', a.event_id);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });

  test('per session, the agent receives events in accept order, each once', async () => {
    const w1 = await r.connect('athena');
    const w2 = await r.connect('athena');
    const app = await r.connect('portal');

    // Three sessions interleaved, ten events each; the agent holds every event unanswered.
    const threads: string[] = [];
    for (let i = 0; i < 10; i++) threads.push(`portal:order-1:t${i}`, `portal:order-2:t${i}`, `portal:order-3`);
    const accepted = await sendAll(app, threads);
    await waitFor('every event at an agent', () => eventsAt(w1).length + eventsAt(w2).length === threads.length);

    for (const key of ['relay:athena:portal:order-1', 'relay:athena:portal:order-2', 'relay:athena:portal:order-3']) {
      const expected = accepted.filter((a) => a.session_key === key).map((a) => a.event_id);
      expect(expected).toHaveLength(10);
      const at1 = eventsAt(w1).filter((e) => e.session_key === key);
      const at2 = eventsAt(w2).filter((e) => e.session_key === key);
      // One connection holds the whole session, and got its events in accept order.
      const received = at1.length > 0 ? at1 : at2;
      expect(at1.length === 0 || at2.length === 0).toBe(true);
      expect(received.map((e) => e.event_id)).toEqual(expected);
      expect(received.map((e) => e.attempt)).toEqual(expected.map(() => 1));
      expect(received.every((e) => e.app_id === 'portal' && e.agent_id === 'athena')).toBe(true);
    }
    // Answer them all, so no later test's agent gets them again.
    for (const w of [w1, w2]) for (const e of eventsAt(w)) w.send({ type: 'reply', event_id: e.event_id, content: 'ok', finish_reason: 'stop' });
    for (const a of accepted) await app.nextOf('reply', a.event_id);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });

  test('a connection that joins later does not take over a session another live connection holds', async () => {
    const w1 = await r.connect('athena');
    answerEverything(w1);
    const app = await r.connect('portal');
    const first = await sendAll(app, ['portal:task-7:a']);
    await waitFor('the first event at w1', () => eventsAt(w1).length === 1);
    await app.nextOf('reply', first[0]?.event_id);

    // w2 is idle and w1 holds nothing in flight, yet task-7 stays with w1.
    const w2 = await r.connect('athena');
    answerEverything(w2);
    const later = await sendAll(app, ['portal:task-7:b', 'portal:task-7:a', 'portal:task-7:c', 'portal:task-7:d']);
    await waitFor('the later events at w1', () => eventsAt(w1).length === 5, 3_000);
    expect(eventsAt(w1).map((e) => e.event_id)).toEqual([...first, ...later].map((a) => a.event_id));
    expect(eventsAt(w2)).toEqual([]);
    for (const a of later) await app.nextOf('reply', a.event_id);
    for (const c of [app, w1, w2]) expect(c.invalid).toEqual([]);
  });

  test('when the holding connection closes, the session moves to a live one and stays there', async () => {
    const w1 = await r.connect('athena');
    answerEverything(w1);
    const app = await r.connect('portal');
    const first = await sendAll(app, ['portal:task-8:a']);
    await app.nextOf('reply', first[0]?.event_id);

    const w2 = await r.connect('athena');
    const w3 = await r.connect('athena');
    answerEverything(w2);
    answerEverything(w3);
    await w1.close();

    const later = await sendAll(app, ['portal:task-8:a', 'portal:task-8:b', 'portal:task-8:a', 'portal:task-8:c']);
    await waitFor('the later events at w2 or w3', () => eventsAt(w2).length + eventsAt(w3).length === 4);
    const holder = eventsAt(w2).length > 0 ? w2 : w3;
    expect(eventsAt(holder).map((e) => e.event_id)).toEqual(later.map((a) => a.event_id));
    for (const a of later) await app.nextOf('reply', a.event_id);
    for (const c of [app, w1, w2, w3]) expect(c.invalid).toEqual([]);
  });
});
