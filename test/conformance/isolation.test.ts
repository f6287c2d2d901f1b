import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame, type TestClient } from '../support/client';
import { useRelay } from '../support/relay-fixture';
import { captureRaw, eventually } from '../support/wire-probe';

/** Invariant 5: apps see only their own events' frames; agents only allowlisted apps' events. */
describe.each(backendsUnderTest())('isolation ($name backend)', (backend) => {
  const r = useRelay(backend);
  /** Everything the client received, taken and never matched before (afterwards it holds none). */
  const everything = (client: TestClient): Frame[] => client.frames.splice(0);
  const discover = async (app: TestClient): Promise<Record<string, string>> => {
    app.send({ type: 'discover' });
    const frame = await app.nextOf('agents');
    return Object.fromEntries((frame.agents as Frame[]).map((a) => [a.id, a.status]));
  };

  test('two apps on the same thread id each see exactly the frames of their own events', async () => {
    const athena = await r.connect('athena');
    const portal = await r.connect('portal');
    const flow = await r.connect('flow');
    const seen = { portal: captureRaw(portal), flow: captureRaw(flow) };
    const thread = 'shared:thread:1';
    const sent: Record<string, string[]> = { portal: [], flow: [] };
    // interleaved sends from both apps, same agent, same thread (so the same session_key)
    for (let i = 0; i < 3; i++) {
      for (const [name, app] of [['portal', portal], ['flow', flow]] as const) {
        const ref = `${name}-${i}`;
        app.send(eventFrame({ thread_id: thread, ref, payload: { from: name, i } }));
        const accepted = await app.next((f) => f.ref === ref);
        expect(accepted).toMatchObject({ type: 'accepted', session_key: 'relay:athena:shared:thread' });
        sent[name]?.push(accepted.event_id);
      }
    }
    // the agent answers each with two tokens and a reply that names the app it came from
    const delivered: Frame[] = [];
    for (let n = 0; n < 6; n++) delivered.push(await athena.nextOf('event'));
    for (const event of delivered) {
      expect(sent[event.app_id]).toContain(event.event_id);
      expect(event.payload.from).toBe(event.app_id);
      athena.send({ type: 'token', event_id: event.event_id, token: `${event.app_id}:` });
      athena.send({ type: 'token', event_id: event.event_id, token: `${event.payload.i}` });
      athena.send({ type: 'reply', event_id: event.event_id, content: `for ${event.app_id}`, finish_reason: 'stop' });
    }
    for (const [name, app] of [['portal', portal], ['flow', flow]] as const) {
      for (const eventId of sent[name] ?? []) {
        expect(await app.nextOf('reply', eventId)).toMatchObject({ content: `for ${name}`, payload: { from: name } });
      }
    }
    await portal.quiet(100);
    for (const name of ['portal', 'flow'] as const) {
      const frames = seen[name].map((raw) => JSON.parse(raw) as Frame);
      // per own event: accepted, two tokens, one reply; nothing of the other app's events
      expect(new Set(frames.map((f) => f.event_id))).toEqual(new Set(sent[name]));
      const count = (type: string) => frames.filter((f) => f.type === type).length;
      expect([count('accepted'), count('token'), count('reply'), frames.length]).toEqual([3, 6, 3, 12]);
      for (const f of frames.filter((f) => f.type === 'token')) expect(f.token).toMatch(new RegExp(`^(${name}:|[0-2])$`));
    }
    for (const app of [portal, flow]) {
      expect(everything(app).every((f) => f.type === 'token')).toBe(true);
      expect(app.invalid).toEqual([]);
    }
    expect(everything(athena)).toEqual([]);
  });

  test("a final for an app whose connection is gone goes to that app's next connection, never to another app", async () => {
    const athena = await r.connect('athena');
    const portal = await r.connect('portal');
    const flow = await r.connect('flow');
    portal.send(eventFrame({ thread_id: 'shared:thread:2', ref: 'gone' }));
    const accepted = await portal.next((f) => f.ref === 'gone');
    const event = await athena.nextOf('event', accepted.event_id);
    await portal.close();
    athena.send({ type: 'token', event_id: event.event_id, token: 'lost' });
    athena.send({ type: 'reply', event_id: event.event_id, content: 'held for portal', finish_reason: 'stop' });
    const portalAgain = await r.connect('portal');
    expect(await portalAgain.nextOf('reply', event.event_id)).toMatchObject({ content: 'held for portal' });
    expect(await flow.quiet(100)).toEqual([]);
  });

  test('agents receive only events of apps allowlisted for them', async () => {
    const athena = await r.connect('athena');
    const klyve = await r.connect('klyve');
    const portal = await r.connect('portal');
    const flow = await r.connect('flow');
    const academy = await r.connect('academy');

    flow.send(eventFrame({ agent_id: 'klyve', thread_id: 'flow:1', ref: 'f-k' }));
    expect(await flow.next((f) => f.ref === 'f-k')).toMatchObject({ type: 'error', code: 'ALLOWLIST_DENIED' });
    academy.send(eventFrame({ agent_id: 'athena', thread_id: 'academy:1', ref: 'a-a' }));
    expect(await academy.next((f) => f.ref === 'a-a')).toMatchObject({ type: 'error', code: 'ALLOWLIST_DENIED' });
    academy.send(eventFrame({ agent_id: 'klyve', thread_id: 'academy:1', ref: 'a-k' }));
    expect(await academy.next((f) => f.ref === 'a-k')).toMatchObject({ type: 'error', code: 'ALLOWLIST_DENIED' });

    // positive controls: the agents are online and do get what they are allowed
    portal.send(eventFrame({ agent_id: 'klyve', thread_id: 'portal:1', ref: 'p-k' }));
    const toKlyve = await portal.next((f) => f.ref === 'p-k');
    flow.send(eventFrame({ agent_id: 'athena', thread_id: 'flow:1', ref: 'f-a' }));
    const toAthena = await flow.next((f) => f.ref === 'f-a');
    expect(await klyve.nextOf('event', toKlyve.event_id)).toMatchObject({ app_id: 'portal', agent_id: 'klyve' });
    expect(await athena.nextOf('event', toAthena.event_id)).toMatchObject({ app_id: 'flow', agent_id: 'athena' });
    klyve.send({ type: 'reply', event_id: toKlyve.event_id, content: 'k', finish_reason: 'stop' });
    athena.send({ type: 'reply', event_id: toAthena.event_id, content: 'a', finish_reason: 'stop' });
    await portal.nextOf('reply', toKlyve.event_id);
    await flow.nextOf('reply', toAthena.event_id);

    // nothing else reached either agent: no denied event, and none of one agent's events at the other
    expect(await athena.quiet(100)).toEqual([]);
    expect(await klyve.quiet(0)).toEqual([]);
    expect(await academy.quiet(0)).toEqual([]);
  });

  test("an agent's queued events never go to another agent", async () => {
    const klyve = await r.connect('klyve');
    const portal = await r.connect('portal');
    portal.send(eventFrame({ thread_id: 'portal:queued', ref: 'q' }));
    const accepted = await portal.next((f) => f.ref === 'q');
    expect(accepted).toMatchObject({ type: 'accepted', queued: true });
    expect(await klyve.quiet(100)).toEqual([]);
    const athena = await r.connect('athena');
    const event = await athena.nextOf('event', accepted.event_id);
    athena.send({ type: 'reply', event_id: event.event_id, content: 'late', finish_reason: 'stop' });
    expect(await portal.nextOf('reply', accepted.event_id)).toMatchObject({ content: 'late' });
    expect(await klyve.quiet(0)).toEqual([]);
  });

  test('discover lists only allowlisted agents, with live status', async () => {
    const portal = await r.connect('portal');
    const flow = await r.connect('flow');
    const academy = await r.connect('academy');

    portal.send({ type: 'discover', ref: 'd' });
    expect(await portal.nextOf('agents')).toEqual({
      type: 'agents',
      ref: 'd',
      agents: expect.arrayContaining([
        { id: 'athena', name: 'Athena', description: 'Summarizes discussions', status: 'offline' },
        { id: 'klyve', name: 'Klyve', description: 'Plans tasks', status: 'offline' },
      ]),
    });
    expect(await discover(portal)).toEqual({ athena: 'offline', klyve: 'offline' });
    expect(await discover(flow)).toEqual({ athena: 'offline' });
    expect(await discover(academy)).toEqual({});

    const athena = await r.connect('athena');
    expect(await eventually(async () => (await discover(portal)).athena, 'online')).toBe('online');
    expect(await discover(portal)).toEqual({ athena: 'online', klyve: 'offline' });
    expect(await discover(flow)).toEqual({ athena: 'online' });
    expect(await discover(academy)).toEqual({});

    const klyve = await r.connect('klyve');
    expect(await eventually(async () => (await discover(portal)).klyve, 'online')).toBe('online');
    expect(await discover(portal)).toEqual({ athena: 'online', klyve: 'online' });
    expect(await discover(flow)).toEqual({ athena: 'online' });

    // a second athena connection closing leaves athena online; the last one closing makes it offline
    const athena2 = await r.connect('athena');
    await athena.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await discover(flow)).toEqual({ athena: 'online' });
    await athena2.close();
    expect(await eventually(async () => (await discover(flow)).athena, 'offline')).toBe('offline');
    expect(await discover(portal)).toEqual({ athena: 'offline', klyve: 'online' });
    await klyve.close();
    expect(await eventually(async () => (await discover(portal)).klyve, 'offline')).toBe('offline');
    expect(await discover(academy)).toEqual({});
    for (const app of [portal, flow, academy]) expect(app.invalid).toEqual([]);
  });
});
