import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, discoverStatus, registered, waitForStatus } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// `kill -9` of a node: after RELAY_NODE_TTL_MS without its liveness beat, the others drop its
// presence entries and hand the events its agent connections held to other connections
// (attempt 2). Nothing accepted is lost, and the app still sees exactly one final frame.

const NODE_TTL_MS = 1_500;
/** TTL, plus a beat interval and the local liveness cache, with room for a loaded machine. */
const NOTICED_MS = NODE_TTL_MS + 6_000;

describeOnStores('kill -9 of a node', (store) => {
  const c = clusterPerTest({ store, env: { RELAY_NODE_TTL_MS: String(NODE_TTL_MS) } });

  test('the event an agent held on a killed node goes with attempt 2 to its connection on another node', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const watcher = await cluster.connect(2, 'portal');
    const seen = recordFrames(app);
    const agent = await cluster.connect(3, 'athena');
    const klyve = await cluster.connect(3, 'klyve'); // never reconnects: its presence must go
    for (const a of [app, watcher]) {
      await waitForStatus(a, 'athena', 'online');
      await waitForStatus(a, 'klyve', 'online');
    }

    const accepted = await send(app, eventFrame());
    const id = accepted.event_id as string;
    expect((await agent.nextOf('event', id)).attempt).toBe(1);
    agent.send({ type: 'token', event_id: id, token: 'thinking' });
    await app.nextOf('token', id);

    expect(await cluster.node(3).stop('SIGKILL')).toBe('SIGKILL');
    await Promise.all([agent.closed, klyve.closed]);
    // The agent reconnects at once, as any client would, before node 3 is known to be dead.
    const again = await cluster.connect(2, 'athena');
    const redelivered = await again.nextOf('event', id, NOTICED_MS);
    expect(redelivered).toMatchObject({ attempt: 2, app_id: 'portal', payload: eventFrame().payload });

    for (const a of [app, watcher]) await waitForStatus(a, 'klyve', 'offline', NOTICED_MS);
    for (const a of [app, watcher]) expect((await discoverStatus(a)).athena).toBe('online');

    again.send({ type: 'reply', event_id: id, content: 'survived', finish_reason: 'stop' });
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'survived' });
    await sleep(500);
    expect(finalsFor(seen, id)).toHaveLength(1);
    expect(again.frames.filter((f) => f.type === 'event' || f.type === 'cancel')).toEqual([]);
  }, 30_000);

  test('an agent that reconnects only after the dead node was reaped gets the event then', async () => {
    const { cluster } = c;
    const app = await cluster.connect(2, 'portal');
    const seen = recordFrames(app);
    const agent = await cluster.connect(1, 'athena');
    const accepted = await send(app, eventFrame({ thread_id: 'portal:late-return:1' }));
    const id = accepted.event_id as string;
    await agent.nextOf('event', id);

    await cluster.node(1).stop('SIGKILL');
    await waitForStatus(app, 'athena', 'offline', NOTICED_MS);
    await sleep(NODE_TTL_MS); // well past the reap
    const again = await cluster.connect(3, 'athena');
    expect(await again.nextOf('event', id)).toMatchObject({ attempt: 2 });
    again.send({ type: 'reply', event_id: id, content: 'back', finish_reason: 'stop' });
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'back' });
    await sleep(300);
    expect(finalsFor(seen, id)).toHaveLength(1);
  }, 30_000);

  test("a reply for an app whose node was killed reaches the app's next connection on another node", async () => {
    const { cluster } = c;
    const agent = await cluster.connect(1, 'athena');
    const app = await cluster.connect(3, 'portal');
    const accepted = await send(app, eventFrame({ thread_id: 'portal:app-node-dies:1' }));
    const id = accepted.event_id as string;
    await agent.nextOf('event', id);

    await cluster.node(3).stop('SIGKILL');
    await app.closed;
    // The agent answers at once: node 3 still counts as alive, but nobody listens for it.
    agent.send({ type: 'reply', event_id: id, content: 'for the survivor', finish_reason: 'stop' });
    await sleep(300);

    // Held frames are written as the socket opens, so they are read from the client itself.
    const back = await cluster.connect(2, 'portal');
    expect(await back.nextOf('reply', id, NOTICED_MS)).toMatchObject({ content: 'for the survivor' });
    await sleep(500);
    expect(finalsFor(back.frames, id)).toEqual([]); // no second copy after the one taken
  }, 30_000);

  test("a reply for an app whose node was killed reaches the app's open connection on another node", async () => {
    const { cluster } = c;
    const agent = await cluster.connect(1, 'athena');
    const sender = await cluster.connect(3, 'portal');
    const other = await cluster.connect(2, 'portal');
    await registered(other);
    const otherSeen = recordFrames(other);
    const accepted = await send(sender, eventFrame({ thread_id: 'portal:app-node-dies:2' }));
    const id = accepted.event_id as string;
    await agent.nextOf('event', id);

    await cluster.node(3).stop('SIGKILL');
    await sender.closed;
    agent.send({ type: 'reply', event_id: id, content: 'for the other one', finish_reason: 'stop' });
    expect(await other.nextOf('reply', id, NOTICED_MS)).toMatchObject({ content: 'for the other one' });
    await sleep(500);
    expect(finalsFor(otherSeen, id)).toHaveLength(1);
  }, 30_000);
});
