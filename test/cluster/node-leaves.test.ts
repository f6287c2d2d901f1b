import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, waitForStatus } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// A node leaves at a moment the other suites do not pick. The node TTL here is a minute, far
// longer than any wait below: nothing in these tests may rely on the dead or drained node being
// reaped, only on what the cluster does at once.

const NODE_TTL_MS = 60_000;
/** Generous for a loaded machine, and still far below NODE_TTL_MS. */
const PROMPTLY_MS = 15_000;

// Finished retention must be at least twice the node TTL (config.ts checks it).
describeOnStores('a node that leaves', (store) => {
  const c = clusterPerTest({ store, env: { RELAY_NODE_TTL_MS: String(NODE_TTL_MS), RELAY_FINISHED_RETENTION_MS: String(2 * NODE_TTL_MS) } });

  test('the node that accepted an event for an offline agent is killed at once: the event is still delivered and answered once', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const accepted = await send(app, eventFrame({ thread_id: 'portal:accepting-node-killed' }));
    expect(accepted).toMatchObject({ type: 'accepted', queued: true });
    const id = accepted.event_id as string;

    // Killed the moment `accepted` is out; the app does not resend.
    expect(await cluster.node(1).stop('SIGKILL')).toBe('SIGKILL');
    await app.closed;

    const again = await cluster.connect(3, 'portal');
    const seen = recordFrames(again);
    const agent = await cluster.connect(2, 'athena');
    const event = await agent.nextOf('event', id, PROMPTLY_MS);
    expect(event).toMatchObject({ attempt: 1, app_id: 'portal', thread_id: 'portal:accepting-node-killed' });
    agent.send({ type: 'reply', event_id: id, content: 'kept', finish_reason: 'stop' });

    // The reply's route (the app's socket on node 1) is dead: it goes to the app's live connection.
    expect(await again.nextOf('reply', id, PROMPTLY_MS)).toMatchObject({ content: 'kept' });
    await sleep(500);
    expect(finalsFor(seen, id)).toHaveLength(1);
    expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);
  }, 40_000);

  test("a drained node hands its agent's unanswered event back at once, not after its TTL", async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const agent = await cluster.connect(2, 'athena');
    await waitForStatus(app, 'athena', 'online');
    const accepted = await send(app, eventFrame({ thread_id: 'portal:drained-node' }));
    const id = accepted.event_id as string;
    expect(await agent.nextOf('event', id)).toMatchObject({ attempt: 1 });

    const exited = cluster.node(2).stop('SIGTERM');
    expect((await agent.closed).code).toBe(1001);
    // The agent reconnects, as told by 1001, to another node.
    const again = await cluster.connect(3, 'athena');
    expect(await again.nextOf('event', id, PROMPTLY_MS)).toMatchObject({ attempt: 2 });
    expect(await exited).toBe(0);

    again.send({ type: 'reply', event_id: id, content: 'after the drain', finish_reason: 'stop' });
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'after the drain' });
    await sleep(500);
    expect(finalsFor(seen, id)).toHaveLength(1);
  }, 40_000);
});
