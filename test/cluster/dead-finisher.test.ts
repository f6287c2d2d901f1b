import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { appReplyFrame } from '../../packages/gateway/src/relay/outbound';
import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, waitForStatus, type Cluster } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// A node that decides an event's outcome and dies (kill -9) before it has sent the final frame
// on, or before it has taken the event out of its agent's queue. The outcome is decided once,
// so no other node may decide it again: the final kept with the event is sent by another node
// once overdue, and the event leaves the queue instead of holding an agent's place. (Found by
// the chaos test.) Here the dying node is played by a finish() written straight to Redis.

const NODE_TTL_MS = 1_500;
/** Overdue after one node TTL, sent on a later beat, with room for a loaded machine. */
const RESENT_MS = NODE_TTL_MS + 5_000;

describeOnStores('a node that decided an outcome and died', (store) => {
  const c = clusterPerTest({
    store,
    env: { RELAY_NODE_TTL_MS: String(NODE_TTL_MS) },
    registry: { agents: { athena: { max_in_flight: 1 } } },
  });

  /** Finishes the event with a reply, as a node would just before it died, and sends nothing. */
  async function finishAndDie(cluster: Cluster, eventId: string, content: string): Promise<void> {
    const client = cluster.redis();
    try {
      const events = createRedisEventStore(client, scriptRunner(client), createKeys(cluster.prefix), { finishedRetentionMs: 60_000 });
      const record = await events.get(eventId);
      if (!record) throw new Error(`no event ${eventId}`);
      const final = appReplyFrame(record, { type: 'reply', event_id: eventId, content, finish_reason: 'stop' }, undefined, 0, Date.now());
      expect(await events.finish(eventId, final, Date.now())).not.toBeNull();
    } finally {
      await client.quit();
    }
  }

  test('a final its node never sent reaches the app from another node; the waiting event is never delivered', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame({ thread_id: 'portal:dead-finisher:1' }));
    const id = accepted.event_id as string;
    expect(accepted.queued).toBe(true); // no agent yet: it waits in the queue

    await finishAndDie(cluster, id, 'decided before dying');
    expect(await app.nextOf('reply', id, RESENT_MS)).toMatchObject({ content: 'decided before dying' });

    // The event is still in the queue, where the dead node left it: it must not go out now.
    const agent = await cluster.connect(2, 'athena');
    await waitForStatus(app, 'athena', 'online');
    const next = await send(app, eventFrame({ thread_id: 'portal:dead-finisher:2' }));
    expect(await agent.nextOf('event')).toMatchObject({ event_id: next.event_id });
    await sleep(300);
    expect(finalsFor(seen, id)).toHaveLength(1);
    expect(agent.frames.filter((f) => f.event_id === id)).toEqual([]);
  }, 30_000);

  test("an event finished by a dead node while an agent held it frees the agent's place once the agent answers", async () => {
    const { cluster } = c;
    const agent = await cluster.connect(3, 'athena'); // max_in_flight 1
    const app = await cluster.connect(1, 'portal');
    const first = await send(app, eventFrame({ thread_id: 'portal:held-by-agent:1' }));
    const id = first.event_id as string;
    await agent.nextOf('event', id);

    await finishAndDie(cluster, id, 'decided elsewhere');
    agent.send({ type: 'reply', event_id: id, content: 'too late', finish_reason: 'stop', ref: 'late' });
    expect(await agent.nextOf('error', id)).toMatchObject({ code: 'UNKNOWN_EVENT', ref: 'late' });

    // Its place is free: the next event goes to the same (only) connection at once.
    const second = await send(app, eventFrame({ thread_id: 'portal:held-by-agent:2' }));
    expect(await agent.nextOf('event', second.event_id)).toMatchObject({ attempt: 1 });
    expect(await app.nextOf('reply', id, RESENT_MS)).toMatchObject({ content: 'decided elsewhere' });
  }, 30_000);
});
