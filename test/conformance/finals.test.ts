import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame, type TestClient } from '../support/client';
import { useRelay } from '../support/relay-fixture';
import type { RelayProcess } from '../support/relay-process';

// Invariant 2: every accepted event ends at its app with exactly one final frame, even when the
// connection that sent it is gone: another open connection of the same app gets it, or else the
// app's next connection (held for RELAY_FINAL_RETENTION_MS). Never a different app.

const finalsFor = (frames: Frame[], eventId: string) =>
  frames.filter((f) => (f.type === 'reply' || f.type === 'error') && f.event_id === eventId);

/** Sum of a Prometheus series (all label sets) in the node's /metrics text. */
async function metric(relay: RelayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${relay.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (match?.[1] === name) sum += Number(match[3]);
  }
  return sum;
}

/** Waits until the node reports a final frame held since the count was `before`. */
async function heldSince(relay: RelayProcess, before: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await metric(relay, 'relay_finals_held_total')) === before) {
    if (Date.now() > deadline) throw new Error('the final frame was never held');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// single node: this suite counts held finals in one node's /metrics; test/cluster/finals.test.ts covers finals across nodes
describe.each(backendsUnderTest({ singleNode: true }))('final frames reach the app ($name backend)', (backend) => {
  describe('with the default retention', () => {
    const r = useRelay(backend);

    /** One event from `app`, taken by `agent`; returns its id. */
    const sendAndTake = async (app: TestClient, agent: TestClient, thread_id: string): Promise<string> => {
      app.send(eventFrame({ thread_id, ref: thread_id }));
      const accepted = await app.next((f) => f.type === 'accepted' && f.ref === thread_id);
      await agent.nextOf('event', accepted.event_id);
      return accepted.event_id as string;
    };

    test("the reply goes to the app's other open connection when the sending one has closed", async () => {
      const agent = await r.connect('athena');
      const p1 = await r.connect('portal');
      const p2 = await r.connect('portal');
      const flow = await r.connect('flow');
      const id = await sendAndTake(p1, agent, 'portal:other-conn:1');
      await p1.close();

      agent.send({ type: 'token', event_id: id, token: 'streamed while the sender was away' });
      agent.send({ type: 'reply', event_id: id, content: 'the answer', finish_reason: 'stop' });
      const reply = await p2.nextOf('reply', id);
      expect(reply).toMatchObject({ content: 'the answer', reply: 'the answer', agent_id: 'athena', thread_id: 'portal:other-conn:1' });
      expect(finalsFor(await p2.quiet(200), id)).toEqual([]); // exactly one
      expect(await flow.quiet(0)).toEqual([]); // another app sees nothing of it
      for (const c of [agent, p1, p2, flow]) expect(c.invalid).toEqual([]);
    });

    test("with no app connection open, the reply is held and the app's next connection gets it once", async () => {
      const agent = await r.connect('athena');
      const p1 = await r.connect('portal');
      const id = await sendAndTake(p1, agent, 'portal:held:1');
      await p1.close();
      const heldBefore = await metric(r.relay, 'relay_finals_held_total');

      const flow = await r.connect('flow'); // open while portal has none
      agent.send({ type: 'reply', event_id: id, content: 'kept for you', finish_reason: 'stop' });
      await heldSince(r.relay, heldBefore);
      expect(await flow.quiet(100)).toEqual([]);
      const flowLater = await r.connect('flow'); // a new connection of another app
      expect(await flowLater.quiet(200)).toEqual([]);

      const p2 = await r.connect('portal');
      const reply = await p2.nextOf('reply', id);
      expect(reply).toMatchObject({ content: 'kept for you', finish_reason: 'stop' });
      expect(finalsFor(await p2.quiet(200), id)).toEqual([]);
      // Taken once: a further connection does not get it again.
      const p3 = await r.connect('portal');
      expect(finalsFor(await p3.quiet(200), id)).toEqual([]);
      for (const c of [agent, p1, p2, p3, flow, flowLater]) expect(c.invalid).toEqual([]);
    });

    test('a CANCELLED final error goes to an open connection of the app when the sender has closed', async () => {
      const agent = await r.connect('athena');
      const p1 = await r.connect('portal');
      const p2 = await r.connect('portal');
      const flow = await r.connect('flow');
      const id = await sendAndTake(p1, agent, 'portal:cancelled:1');
      await p1.close();

      p2.send({ type: 'cancel', event_id: id });
      expect(await p2.nextOf('error', id)).toMatchObject({ code: 'CANCELLED', event_id: id });
      expect(await agent.nextOf('cancel', id)).toEqual({ type: 'cancel', event_id: id });
      expect(finalsFor(await p2.quiet(200), id)).toEqual([]);
      // The agent's answer after the cancel is refused and reaches no one.
      agent.send({ type: 'reply', event_id: id, content: 'too late', finish_reason: 'stop' });
      expect(await agent.nextOf('error', id)).toMatchObject({ code: 'UNKNOWN_EVENT' });
      expect(finalsFor(await p2.quiet(200), id)).toEqual([]);
      expect(await flow.quiet(0)).toEqual([]);
      for (const c of [agent, p1, p2, flow]) expect(c.invalid).toEqual([]);
    });

    test("an EVENT_EXPIRED final error with no app connection open is held for the app's next connection", async () => {
      // klyve is offline: the event waits, expires, and its final error finds no connection.
      const p1 = await r.connect('portal');
      p1.send(eventFrame({ agent_id: 'klyve', thread_id: 'portal:expiring:1', ttl_ms: 300, ref: 'x' }));
      const accepted = await p1.nextOf('accepted');
      expect(accepted.queued).toBe(true);
      const id = accepted.event_id as string;
      await p1.close();
      const flow = await r.connect('flow');
      await new Promise((resolve) => setTimeout(resolve, 600));

      const p2 = await r.connect('portal');
      expect(await p2.nextOf('error', id)).toMatchObject({ code: 'EVENT_EXPIRED', event_id: id });
      expect(finalsFor(await p2.quiet(200), id)).toEqual([]);
      expect(await flow.quiet(0)).toEqual([]);
      // The agent coming online later does not get the expired event.
      const klyve = await r.connect('klyve');
      expect((await klyve.quiet(200)).filter((f) => f.type === 'event')).toEqual([]);
      for (const c of [p1, p2, flow, klyve]) expect(c.invalid).toEqual([]);
    });

    test('held finals of two apps each go to their own app only', async () => {
      const agent = await r.connect('athena');
      const p1 = await r.connect('portal');
      const f1 = await r.connect('flow');
      const portalId = await sendAndTake(p1, agent, 'portal:mine:1');
      const flowId = await sendAndTake(f1, agent, 'flow:mine:1');
      await Promise.all([p1.close(), f1.close()]);
      agent.send({ type: 'reply', event_id: portalId, content: 'for portal', finish_reason: 'stop' });
      agent.send({ type: 'reply', event_id: flowId, content: 'for flow', finish_reason: 'stop' });
      await new Promise((resolve) => setTimeout(resolve, 200));

      const f2 = await r.connect('flow');
      expect(await f2.nextOf('reply', flowId)).toMatchObject({ content: 'for flow' });
      const p2 = await r.connect('portal');
      expect(await p2.nextOf('reply', portalId)).toMatchObject({ content: 'for portal' });
      expect(await f2.quiet(200)).toEqual([]);
      expect(await p2.quiet(0)).toEqual([]);
      for (const c of [agent, p1, p2, f1, f2]) expect(c.invalid).toEqual([]);
    });
  });

  describe('with RELAY_FINAL_RETENTION_MS=200', () => {
    const r = useRelay(backend, { env: { RELAY_FINAL_RETENTION_MS: '200' } });

    test('a held final reply is gone once retention has passed', async () => {
      const agent = await r.connect('athena');
      const p1 = await r.connect('portal');
      p1.send(eventFrame({ thread_id: 'portal:forgotten:1' }));
      const id = (await p1.nextOf('accepted')).event_id as string;
      await agent.nextOf('event', id);
      await p1.close();
      const heldBefore = await metric(r.relay, 'relay_finals_held_total');
      agent.send({ type: 'reply', event_id: id, content: 'nobody came', finish_reason: 'stop' });
      await heldSince(r.relay, heldBefore);
      await new Promise((resolve) => setTimeout(resolve, 600));

      const p2 = await r.connect('portal');
      expect(finalsFor(await p2.quiet(300), id)).toEqual([]);
      expect(await metric(r.relay, 'relay_finals_dropped_total')).toBeGreaterThanOrEqual(1);
      for (const c of [agent, p1, p2]) expect(c.invalid).toEqual([]);
    });

    test('a held final error is gone once retention has passed', async () => {
      const p1 = await r.connect('portal');
      p1.send(eventFrame({ agent_id: 'klyve', thread_id: 'portal:forgotten:2', ttl_ms: 100 }));
      const id = (await p1.nextOf('accepted')).event_id as string;
      await p1.close();
      await new Promise((resolve) => setTimeout(resolve, 800)); // expiry at ~100 ms, held until ~300 ms

      const p2 = await r.connect('portal');
      expect(finalsFor(await p2.quiet(300), id)).toEqual([]);
      for (const c of [p1, p2]) expect(c.invalid).toEqual([]);
    });
  });
});
