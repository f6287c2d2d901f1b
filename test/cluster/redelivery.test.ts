import type { Frame, TestClient } from '../support/client';
import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, waitFor } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// An agent connection lost before it replied: its events go again, with attempt 2, to the
// agent's next connection, on whichever node that is; the app still sees one final reply.

describeOnStores('redelivery across nodes', (store) => {
  const c = clusterPerTest({ store });

  const eventsAt = (agent: TestClient): Frame[] => agent.frames.filter((f) => f.type === 'event');
  const reply = (eventId: string, content: string) => ({ type: 'reply', event_id: eventId, content, finish_reason: 'stop' });

  test("a dropped agent connection's event goes with attempt 2 to its next connection on another node", async () => {
    const { cluster } = c;
    const first = await cluster.connect(2, 'athena');
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame());
    const id = accepted.event_id as string;
    expect((await first.nextOf('event', id)).attempt).toBe(1);
    first.send({ type: 'token', event_id: id, token: 'half an ' });
    await app.nextOf('token', id);
    first.ws.terminate(); // lost, not closed
    await first.closed;

    const next = await cluster.connect(3, 'athena');
    const again = await next.nextOf('event', id);
    expect(again).toMatchObject({ attempt: 2, app_id: 'portal', payload: eventFrame().payload });
    next.send({ type: 'token', event_id: id, token: 'answer' });
    next.send(reply(id, 'a whole answer'));
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'a whole answer', metadata: { tokens_used: 1 } });
    await sleep(300);
    expect(finalsFor(seen, id)).toHaveLength(1);
    // the new attempt's tokens count from 0 again
    expect(seen.filter((f) => f.type === 'token').map((t) => [t.token, t.seq])).toEqual([
      ['half an ', 0],
      ['answer', 0],
    ]);
  });

  test("an agent's other connection on another node takes over its unanswered events in accept order", async () => {
    const { cluster } = c;
    const w1 = await cluster.connect(1, 'athena');
    const app = await cluster.connect(2, 'portal');
    const seen = recordFrames(app);
    const threads = ['portal:s1:a', 'portal:s2:a', 'portal:s1:b', 'portal:s2:b'];
    const ids: string[] = [];
    for (const thread_id of threads) ids.push((await send(app, eventFrame({ thread_id }))).event_id as string);
    await waitFor('four events at w1', () => eventsAt(w1).length === 4);
    const answered = ids[1] as string;
    w1.send(reply(answered, 'from w1'));
    await app.nextOf('reply', answered);

    const w3 = await cluster.connect(3, 'athena');
    await sleep(300);
    expect(eventsAt(w3)).toEqual([]); // nothing moves while w1 lives
    w1.ws.terminate();
    await w1.closed;

    const redelivered = ids.filter((id) => id !== answered);
    await waitFor('three events at w3', () => eventsAt(w3).length === 3);
    expect(eventsAt(w3).map((e) => e.event_id)).toEqual(redelivered);
    expect(eventsAt(w3).map((e) => e.attempt)).toEqual([2, 2, 2]);
    for (const id of redelivered) w3.send(reply(id, `from w3 ${id}`));
    for (const id of redelivered) expect((await app.nextOf('reply', id)).content).toBe(`from w3 ${id}`);
    await sleep(300);
    for (const id of ids) expect(finalsFor(seen, id)).toHaveLength(1);
  });

  test('a reply sent right before the agent connection closes counts: no redelivery, one final', async () => {
    const { cluster } = c;
    const w1 = await cluster.connect(1, 'athena');
    const app = await cluster.connect(3, 'portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame());
    const id = accepted.event_id as string;
    await w1.nextOf('event', id);
    w1.send(reply(id, 'last words'));
    w1.ws.close(1000);
    await w1.closed;
    const w2 = await cluster.connect(2, 'athena');
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'last words' });
    await sleep(500);
    expect(eventsAt(w2)).toEqual([]);
    expect(finalsFor(seen, id)).toHaveLength(1);
  });
});
