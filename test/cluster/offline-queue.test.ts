import type { TestClient, Frame } from '../support/client';
import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, waitFor, waitForStatus } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// Events sent via one node while their agent is offline wait in Redis; when the agent connects
// to another node it gets them at once (not after a queue backoff), in accept order per session.

describeOnStores('the offline queue across nodes', (store) => {
  const c = clusterPerTest({ store });

  const SESSIONS = ['portal:alpha', 'portal:beta', 'portal:gamma'];
  /** Generous, but far below any backoff a lost wake-up would wait for. */
  const AT_ONCE_MS = 2_000;

  const eventsAt = (agent: TestClient): Frame[] => agent.frames.filter((f) => f.type === 'event');

  /** Sends `perSession` events in each session, interleaved, and returns them in accept order. */
  async function sendInterleaved(app: TestClient, perSession: number): Promise<Frame[]> {
    const accepted: Frame[] = [];
    for (let i = 0; i < perSession; i++) {
      for (const scope of SESSIONS) accepted.push(await send(app, eventFrame({ thread_id: `${scope}:${i}`, payload: { scope, i } })));
    }
    return accepted;
  }

  const bySession = (frames: Frame[]) => {
    const out: Record<string, string[]> = {};
    for (const f of frames) (out[f.session_key as string] ??= []).push(f.event_id as string);
    return out;
  };

  test('events queued via node 1 reach the agent on node 2 at once, in accept order per session', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const accepted = await sendInterleaved(app, 4);
    expect(accepted.every((a) => a.type === 'accepted' && a.queued === true)).toBe(true);

    // Nothing moves while the agent is away.
    await sleep(500);
    expect(seen.filter((f) => f.type === 'reply' || f.type === 'error')).toEqual([]);

    const connectedAt = Date.now();
    const agent = await cluster.connect(2, 'athena');
    await waitFor('every queued event at the agent', () => eventsAt(agent).length === accepted.length, AT_ONCE_MS);
    expect(Date.now() - connectedAt).toBeLessThan(AT_ONCE_MS + 1_000);

    const events = eventsAt(agent);
    expect(bySession(events)).toEqual(bySession(accepted));
    expect(events.every((e) => e.attempt === 1 && e.app_id === 'portal')).toBe(true);
    expect(new Set(events.map((e) => e.event_id)).size).toBe(accepted.length);

    for (const e of events) agent.send({ type: 'reply', event_id: e.event_id, content: `done ${e.event_id}`, finish_reason: 'stop' });
    for (const a of accepted) expect((await app.nextOf('reply', a.event_id)).content).toBe(`done ${a.event_id}`);
    await sleep(200);
    for (const a of accepted) expect(finalsFor(seen, a.event_id)).toHaveLength(1);
  });

  test('after waiting past a queue backoff, an agent that connects still gets its events at once', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const accepted = await sendInterleaved(app, 2);
    // Long enough for any retry of the waiting queue to have run and scheduled a longer one.
    await sleep(2_500);

    const agent = await cluster.connect(3, 'athena');
    await waitFor('every queued event at the agent', () => eventsAt(agent).length === accepted.length, AT_ONCE_MS);
    expect(bySession(eventsAt(agent))).toEqual(bySession(accepted));
    for (const e of eventsAt(agent)) agent.send({ type: 'reply', event_id: e.event_id, content: 'ok', finish_reason: 'stop' });
    for (const a of accepted) await app.nextOf('reply', a.event_id);
  }, 20_000);

  test('with agent connections on two nodes, each session stays in order on one connection', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const accepted = await sendInterleaved(app, 3);
    const w2 = await cluster.connect(2, 'athena');
    const w3 = await cluster.connect(3, 'athena');
    await waitFor('every queued event at an agent', () => eventsAt(w2).length + eventsAt(w3).length === accepted.length, AT_ONCE_MS);

    const at2 = bySession(eventsAt(w2));
    const at3 = bySession(eventsAt(w3));
    for (const session of Object.keys(at2)) expect(at3[session]).toBeUndefined(); // never split
    expect({ ...at2, ...at3 }).toEqual(bySession(accepted));

    // Once a session is held, its later events follow it to the same connection and node.
    await waitForStatus(app, 'athena', 'online');
    const holder = eventsAt(w2).some((e) => e.session_key === 'relay:athena:portal:alpha') ? w2 : w3;
    const later = await send(app, eventFrame({ thread_id: 'portal:alpha:late' }));
    expect(later.queued).toBe(false);
    await holder.nextOf('event', later.event_id);

    for (const w of [w2, w3]) for (const e of eventsAt(w)) w.send({ type: 'reply', event_id: e.event_id, content: 'ok', finish_reason: 'stop' });
    holder.send({ type: 'reply', event_id: later.event_id, content: 'ok', finish_reason: 'stop' });
    for (const a of [...accepted, later]) await app.nextOf('reply', a.event_id);
  });
});
